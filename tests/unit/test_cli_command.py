"""Which subcommand a `hub` command line runs: a leading -v must not turn it into `serve`."""

from __future__ import annotations

import pytest

from hub.cli import build_parser, with_command


@pytest.mark.parametrize(
    ("argv", "command", "verbose"),
    [
        (["-v", "status"], "status", 1),
        (["-vv", "stop"], "stop", 2),
        (["-v", "-v", "attach", "napari"], "attach", 2),
        (["--verbose", "keys", "--dir", "k"], "keys", 1),
        (["status"], "status", 0),
        ([], "serve", 0),
        (["-v"], "serve", 1),
        (["--viewers", "recorder", "-v"], "serve", 1),
        (["-v", "--viewers", "recorder"], "serve", 1),
    ],
)
def test_the_first_word_after_the_verbose_flags_is_the_subcommand(argv, command, verbose):
    args = build_parser().parse_args(with_command(argv))
    assert (args.command, args.verbose) == (command, verbose)
