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


@pytest.mark.parametrize(
    ("typed", "endpoint"),
    [
        ("localhost", "tcp://localhost:7700"),
        ("localhost:7800", "tcp://localhost:7800"),
        ("tcp://localhost:7800", "tcp://localhost:7800"),
        ("127.0.0.1", "tcp://127.0.0.1:7700"),
        ("[::1]:7800", "tcp://[::1]:7800"),
    ],
)
def test_hub_attach_takes_the_hub_as_a_person_types_it(typed, endpoint):
    from hub.cli_attach import hub_endpoint

    assert hub_endpoint(typed) == endpoint


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("http://localhost", "tcp://HOST:PORT"),
        ("tcp://localhost:port", "not a number"),
        ("no-such-host.invalid", "cannot resolve"),
    ],
)
def test_a_hub_address_that_cannot_work_is_one_line_saying_why(typed, says):
    from hub.cli_attach import hub_endpoint

    with pytest.raises(ValueError, match=says):
        hub_endpoint(typed)


def test_missing_client_keys_say_which_files_to_copy_and_where(tmp_path, capsys):
    import socket

    from hub.cli import main

    with socket.create_server(("127.0.0.1", 0)) as listener:  # something listens there
        port = listener.getsockname()[1]
        assert main(["status", "--hub", f"127.0.0.1:{port}", "--keys", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "server.key" in error and "client.key_secret" in error and "--keys" in error
    assert "Traceback" not in error


def test_a_bind_that_fails_says_what_to_do():
    import zmq

    from hub.endpoints import BindError, bind_tcp

    sock = zmq.Context.instance().socket(zmq.ROUTER)
    taken = zmq.Context.instance().socket(zmq.ROUTER)
    try:
        port = taken.bind_to_random_port("tcp://127.0.0.1")
        with pytest.raises(BindError, match="another hub"):
            bind_tcp(sock, "127.0.0.1", port)
        with pytest.raises(BindError, match="not an address of this machine") as caught:
            bind_tcp(sock, "192.0.2.1", 0)  # TEST-NET-1: never assigned to a host
        assert "ip addr" in str(caught.value)
    finally:
        sock.close(0)
        taken.close(0)


def test_a_key_folder_given_in_python_as_tilde_is_the_home_folder(monkeypatch, tmp_path):
    """docs/remote.md writes `StreamingBackend(..., keys_dir="~/hubkeys")`: no shell expands it."""
    from pathlib import Path

    from contract.keys import KEYS_ENV, keys_dir_for

    monkeypatch.setenv("HOME", str(tmp_path))
    assert keys_dir_for("~/hubkeys") == tmp_path / "hubkeys"
    monkeypatch.setenv(KEYS_ENV, "~/other")
    assert keys_dir_for() == tmp_path / "other"
    assert keys_dir_for(Path("/abs")) == Path("/abs")
