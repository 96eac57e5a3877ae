"""The supervisor's restart policy with fake processes: no subprocess is ever started."""

from __future__ import annotations

from typing import Any

import pytest

from hub import supervisor as supervisor_module
from hub.supervisor import Supervisor, ViewerProcess, ViewerState


class FakeProcess:
    """Enough of Popen for the supervisor: poll/returncode, wait, a pid that is never killed."""

    def __init__(self) -> None:
        self.returncode: int | None = None
        self.pid = -1

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        return self.returncode


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class FakeSupervisor(Supervisor):
    """Spawning gives a fresh fake process; everything else is the real policy."""

    def __init__(self, **kw: Any) -> None:
        super().__init__("ipc:///nowhere", **kw)
        self.spawned = 0

    def _spawn(self, viewer: ViewerProcess) -> None:
        self.spawned += 1
        viewer.process = FakeProcess()  # type: ignore[assignment]
        viewer.state = ViewerState.STARTING
        viewer.started_at = supervisor_module.time.monotonic()
        viewer.last_heartbeat = 0.0

    @staticmethod
    def _kill(viewer: ViewerProcess) -> None:
        if viewer.process is not None and viewer.process.returncode is None:
            viewer.process.returncode = -9


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(supervisor_module, "time", fake)
    return fake


def _crash(sup: FakeSupervisor, name: str) -> list[tuple[str, str]]:
    sup.viewers[name].process.returncode = 1
    return sup.check()


def test_a_crash_loop_is_marked_failed_after_max_restarts_within_the_window(clock):
    sup = FakeSupervisor(max_restarts=3, restart_window_s=60.0)
    sup.add("recorder")
    for _ in range(3):
        clock.now += 1
        assert _crash(sup, "recorder") == [("recorder", "the viewer exited with code 1")]
        assert sup.viewers["recorder"].state is ViewerState.RESTARTING
    clock.now += 1
    _crash(sup, "recorder")
    viewer = sup.viewers["recorder"]
    assert viewer.state is ViewerState.FAILED
    assert (viewer.restarts, sup.spawned) == (3, 4)
    assert sup.check() == []  # a failed viewer is left alone


def test_crashes_spread_wider_than_the_window_keep_being_restarted(clock):
    sup = FakeSupervisor(max_restarts=2, restart_window_s=10.0)
    sup.add("recorder")
    for _ in range(6):
        clock.now += 11
        _crash(sup, "recorder")
        assert sup.viewers["recorder"].state is ViewerState.RESTARTING
    assert sup.viewers["recorder"].restarts == 6


def test_user_restarts_are_not_counted_against_the_crash_loop_limit(clock):
    sup = FakeSupervisor(max_restarts=1, restart_window_s=60.0)
    sup.add("recorder")
    for _ in range(5):
        sup.restart("recorder")
        clock.now += supervisor_module.RESTART_GRACE_S + 1
        assert sup.check() == []
    viewer = sup.viewers["recorder"]
    assert (viewer.restarts, viewer.restart_times, sup.spawned) == (5, [], 6)
    clock.now += 1
    _crash(sup, "recorder")  # the first crash still gets its restart
    assert viewer.state is ViewerState.RESTARTING


def test_a_user_restart_waits_for_the_old_process_to_close_within_the_grace(clock):
    sup = FakeSupervisor()
    sup.add("recorder")
    sup.restart("recorder")
    clock.now += 1
    sup.check()
    assert sup.spawned == 1  # still running, still within the grace: not yet killed
    clock.now += supervisor_module.RESTART_GRACE_S
    sup.check()
    assert sup.spawned == 2


def test_a_viewer_that_says_retry_cannot_help_fails_at_once(clock):
    sup = FakeSupervisor()
    sup.add("napari")
    sup._note_path(sup.viewers["napari"]).write_text('{"error": "no display", "retry": false}')
    assert _crash(sup, "napari") == [("napari", "no display")]
    assert sup.viewers["napari"].state is ViewerState.FAILED
    assert sup.spawned == 1
