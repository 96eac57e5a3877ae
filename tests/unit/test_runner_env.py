"""What a viewer process decides before it imports a GUI: display, Qt's runtime dir, logging."""

from __future__ import annotations

import logging
import os

import pytest

from viewers import runner


class _Windowed:
    needs_display = True


class _Plain:
    pass


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"DISPLAY": ":99"}, True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, True),
        ({"QT_QPA_PLATFORM": "offscreen"}, True),
        ({"QT_QPA_PLATFORM": "xcb"}, False),
        ({"DISPLAY": ""}, False),
    ],
)
def test_a_display_is_x11_wayland_or_an_offscreen_qt(monkeypatch, env, expected):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert runner.has_display() is expected


def test_only_windowed_viewers_need_a_display_and_show_false_needs_none():
    assert runner.needs_display(_Windowed, {}) is True
    assert runner.needs_display(_Windowed, {"show": False}) is False
    assert runner.needs_display(_Plain, {}) is False


def test_napari_says_it_needs_a_display_by_its_class_attribute_not_its_module():
    from viewers import registry
    from viewers.base import Viewer

    assert Viewer.needs_display is False
    napari_class = registry.load("napari")  # importing the class imports no Qt
    assert napari_class.__dict__["needs_display"] is True
    assert runner.needs_display(napari_class, {}) is True
    assert runner.needs_display(registry.load("recorder"), {}) is False
    renamed = type("Elsewhere", (napari_class,), {"__module__": "someone.plugin"})
    assert runner.needs_display(renamed, {}) is True


def test_the_no_display_message_names_both_fixes():
    message = runner.no_display_message("napari")
    assert "xvfb-run -a hub --viewers napari" in message and "--headless" in message


def test_qt_gets_a_private_runtime_dir_instead_of_warning(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("QT_LOGGING_RULES", raising=False)
    monkeypatch.setattr(runner.tempfile, "gettempdir", lambda: str(tmp_path))
    runner.quiet_qt_environment()
    runtime = os.environ["XDG_RUNTIME_DIR"]
    assert runtime == str(tmp_path / f"runtime-{os.getuid()}")
    assert os.stat(runtime).st_mode & 0o777 == 0o700
    assert "qt.qpa.theme" in os.environ["QT_LOGGING_RULES"]


def test_exit_note_reaches_the_supervisor_file(monkeypatch, tmp_path):
    note = tmp_path / "napari.json"
    monkeypatch.setenv(runner.EXIT_NOTE_ENV, str(note))
    runner.write_exit_note("napari needs a display", retry=False)
    assert note.read_text() == '{"error": "napari needs a display", "retry": false}'


def test_chatty_third_parties_stay_at_warning_unless_debugging():
    runner.configure_logging("test", 1)
    assert logging.getLogger("scyjava").level == logging.WARNING
    assert logging.getLogger("OpenGL").level == logging.WARNING


def test_the_supervisor_takes_the_viewers_reason_and_whether_to_retry():
    from hub.supervisor import Supervisor, ViewerProcess

    supervisor = Supervisor("tcp://127.0.0.1:1")
    viewer = ViewerProcess("napari", "napari", {})
    path = supervisor._note_path(viewer)
    path.write_text('{"error": "napari needs a display", "retry": false}')
    assert supervisor._read_exit_note(viewer) is False
    assert viewer.last_error == "napari needs a display" and not path.exists()
    assert supervisor._read_exit_note(viewer) is True  # no note: a crash, retried
    supervisor.stop_all()
