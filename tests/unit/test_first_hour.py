"""A newcomer's first hour, the parts that need no process: README, CI, setup, CLI text."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from hub.cli import build_parser
from hub.cli_support import format_status, started_text

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_ci_runs_the_readmes_two_commands_verbatim():
    commands = _readme_commands()
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert all(command in ci for command in commands)


def test_the_readmes_commands_use_the_environment_setup_installs_into():
    # a PEP 668 system python3 cannot run viewerhub: the commands name .venv's programs
    for command in _readme_commands():
        assert command.startswith("bash setup.sh && .venv/bin/")
    setup = (ROOT / "setup.sh").read_text()
    assert "EXTERNALLY-MANAGED" in setup and "-m venv" in setup and "VIRTUAL_ENV" in setup


def test_setup_sh_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(ROOT / "setup.sh")]).returncode == 0


def test_help_is_plain_text_without_rst_markup():
    text = build_parser().format_help()
    assert "``" not in text and ":class:" not in text
    assert "hub status" in text and "python -m hub" in text


def test_status_table_says_which_viewers_are_headless():
    status = {
        "hub": {
            "pid": 1,
            "ingest": "tcp://127.0.0.1:7700",
            "viewer_endpoint": "tcp://127.0.0.1:7701",
            "scene": 1,
            "items": 0,
            "bytes": 0,
            "memory_budget": 1e9,
            "accepted_items": 0,
            "errors_total": 0,
            "errors": {},
            "pending_requests": 0,
        },
        "viewers": {
            "fiji": {"state": "running", "restarts": 0, "headless": True},
            "napari": {"state": "failed", "restarts": 0, "last_error": "napari needs a display"},
        },
    }
    table = format_status(status)
    assert re.search(r"fiji\s+running\s+headless", table)
    assert "napari needs a display" in table


def test_a_started_hub_tells_an_openhcs_user_that_one_target_is_enough():
    text = started_text("tcp://127.0.0.1:7700", ["napari", "fiji"], {}, {"napari": 5555})
    assert "listening on tcp://127.0.0.1:7700, showing in napari, fiji" in text
    assert "napari 5555" in text and "one enabled streaming target" in text
