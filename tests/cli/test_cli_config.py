"""``tds node peer`` and ``tds node show``, choosing the node, and how errors are reported."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from tds.cli._common import emit, load_node_config, read_input, reporting_errors, warn
from tds.connector import NodeConfig
from tds.errors import ConfigError, NotFoundError, PolicySyntaxError

Run = Callable[..., Result]
RunJson = Callable[..., Any]


@pytest.fixture
def alice(run: Run, tmp_path: Path) -> Path:
    assert run("ca", "init", "--dir", "CA").exit_code == 0
    assert run("node", "init", "alice", "--dir", "alice", "--ca", "CA").exit_code == 0
    return tmp_path / "alice"


def test_peer_add_list_remove(run: Run, alice: Path) -> None:
    added = run("node", "peer", "add", "bob", "bob.example.org:7443", "--dir", alice)
    assert added.exit_code == 0, added.stderr
    assert added.stdout.startswith("Added peer bob at bob.example.org:7443.")
    assert "`tds catalog bob` lists what it offers to alice" in added.stdout
    assert run("node", "peer", "add", "carol", "10.0.0.3:7443", "--dir", alice).exit_code == 0
    listed = run("node", "peer", "list", "--dir", alice)
    assert listed.stdout == "bob  bob.example.org:7443\ncarol  10.0.0.3:7443\n"
    removed = run("node", "peer", "remove", "bob", "--dir", alice)
    assert removed.exit_code == 0
    assert removed.stdout == "Removed peer bob (it was at bob.example.org:7443).\n"
    assert dict(NodeConfig.load(alice).peers) == {"carol": "10.0.0.3:7443"}


def test_peer_add_moves_a_peer(run: Run, alice: Path) -> None:
    assert run("node", "peer", "add", "bob", "h:1", "--dir", alice).exit_code == 0
    same = run("node", "peer", "add", "bob", "h:1", "--dir", alice)
    assert same.stdout.startswith("Peer bob was at h:1 already.")
    moved = run("node", "peer", "add", "bob", "h:2", "--dir", alice)
    assert moved.stdout.startswith("Moved peer bob from h:1 to h:2.")
    assert NodeConfig.load(alice).peer_address("bob") == "h:2"


def test_peer_commands_json(run_json: RunJson, alice: Path) -> None:
    assert run_json("node", "peer", "list", "--dir", alice) == {}
    assert run_json("node", "peer", "add", "bob", "h:1", "--dir", alice) == {
        "name": "bob",
        "address": "h:1",
        "previous_address": None,
    }
    assert run_json("node", "peer", "list", "--dir", alice) == {"bob": "h:1"}
    assert run_json("node", "peer", "remove", "bob", "--dir", alice) == {
        "name": "bob",
        "address": "h:1",
    }


def test_an_empty_peer_list_says_how_to_add_one(run: Run, alice: Path) -> None:
    result = run("node", "peer", "list", "--dir", alice)
    assert result.stdout == "No peers yet: add one with `tds node peer add NAME HOST:PORT`.\n"


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["add", "Bob", "h:1"], 2, "'Bob' is not a node name"),
        (["add", "bob", "h"], 2, '[peers] bob must be the peer\'s address as "HOST:PORT"'),
        (["add", "bob", "h:0"], 2, "[peers] bob must be"),
        (["remove", "bob"], 1, "no address for peer 'bob'"),
    ],
)
def test_bad_peer_commands_change_nothing(
    run: Run, alice: Path, arguments: list[str], code: int, message: str
) -> None:
    before = (alice / "node.toml").read_text()
    result = run("node", "peer", *arguments, "--dir", alice)
    assert result.exit_code == code
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert (alice / "node.toml").read_text() == before


def test_show(run: Run, alice: Path) -> None:
    assert run("node", "peer", "add", "bob", "h:1", "--dir", alice).exit_code == 0
    result = run("node", "show", "--dir", alice)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Node alice, listening on 127.0.0.1:7443."
    assert any(line.startswith("  certificate: serial ") and "days left" in line for line in lines)
    assert any(line.startswith("  revocation list: number 1, current until") for line in lines)
    assert "  peers: bob at h:1" in lines
    assert result.stderr == ""


def test_show_json(run_json: RunJson, alice: Path) -> None:
    facts = run_json("node", "show", "--dir", alice)
    assert facts["name"] == "alice"
    assert facts["listen"] == "127.0.0.1:7443"
    assert facts["certificate"]["days_left"] in (364, 365)
    assert facts["certificate"]["data_space"] == "tds data space"
    assert dt.datetime.fromisoformat(facts["certificate"]["not_valid_after"]) > (
        dt.datetime.now(dt.UTC)
    )
    assert facts["crl"]["number"] == 1
    assert facts["warnings"] == []


def test_show_a_node_without_a_certificate(run: Run, tmp_path: Path) -> None:
    assert run("node", "init", "bob", "--dir", "bob").exit_code == 0
    result = run("node", "show", "--dir", "bob")
    assert result.exit_code == 0
    assert "  certificate: none yet" in result.stdout
    assert "warning: node bob has no certificate yet" in result.stderr
    assert "tds node install-cert" in result.stderr


def test_the_node_defaults_to_the_current_directory(
    run: Run, alice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(alice)
    assert run("node", "show").stdout.startswith("Node alice,")


def test_config_names_the_file(run: Run, alice: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "etc" / "alice.toml"
    elsewhere.parent.mkdir()
    text = (alice / "node.toml").read_text().replace("[node]\n", '[node]\ndirectory = "../alice"\n')
    elsewhere.write_text(text)
    result = run("node", "show", "--config", elsewhere)
    assert result.exit_code == 0, result.stderr
    assert f"  directory: {alice}" in result.stdout.splitlines()
    assert run("node", "peer", "add", "bob", "h:1", "--config", elsewhere).exit_code == 0
    assert 'bob = "h:1"' in elsewhere.read_text()
    assert "bob" not in (alice / "node.toml").read_text()


def test_dir_and_config_together_is_a_usage_error(run: Run, alice: Path) -> None:
    result = run("node", "show", "--dir", alice, "--config", alice / "node.toml")
    assert result.exit_code == 2
    assert "give --dir or --config, not both" in result.stderr


def test_no_node_here(run: Run) -> None:
    result = run("node", "show")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: node.toml not found: create the node with `tds node")


def test_a_bad_node_toml_is_exit_code_2_and_names_the_key(run: Run, alice: Path) -> None:
    path = alice / "node.toml"
    path.write_text(path.read_text().replace("retry_attempts = 5", "retry_attempts = 0"))
    for command in (["node", "show"], ["status"], ["node", "peer", "list"]):
        result = run(*command, "--dir", alice)
        assert result.exit_code == 2, command
        assert result.stderr.startswith(f"error: {path}: [transport] retry_attempts must be")
        assert "Traceback" not in result.output
        assert result.stdout == ""


def test_a_name_that_is_not_the_certificates(run: Run, alice: Path) -> None:
    path = alice / "node.toml"
    path.write_text(path.read_text().replace('name = "alice"', 'name = "mallory"'))
    result = run("status", "--dir", alice)
    assert result.exit_code == 2
    assert "names the node 'mallory' but its certificate names 'alice'" in result.stderr


def test_an_unknown_command_is_a_usage_error(run: Run) -> None:
    result = run("node", "frobnicate")
    assert result.exit_code == 2


def test_help_lists_every_command(run: Run) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("ca", "node", "connector", "dataset", "catalog", "status"):
        assert command in result.stdout
    assert run("--version").stdout.startswith("tds ")
    assert "the [peers] table of" in run("node", "--help").stdout


# -- the helpers every command uses ---------------------------------------------------------


def _run_function(function: Callable[[], None]) -> Result:
    app = typer.Typer()
    app.command()(function)
    return CliRunner().invoke(app, [])


def test_emit_prints_sorted_json_with_times_and_paths() -> None:
    moment = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)

    def command() -> None:
        emit({"b": Path("x/y"), "a": moment, "c": {"z"}}, True, "not this")

    result = _run_function(command)
    assert json.loads(result.stdout) == {"a": "2026-03-01T12:30:00+00:00", "b": "x/y", "c": ["z"]}
    assert result.stdout.index('"a"') < result.stdout.index('"b"')
    assert result.stdout.startswith("{\n  ")


def test_emit_text_may_be_a_function_called_only_for_text() -> None:
    calls: list[int] = []

    def text() -> str:
        calls.append(1)
        return "for people"

    assert _run_function(lambda: emit({}, False, text)).stdout == "for people\n"
    assert _run_function(lambda: emit({}, True, text)).stdout == "{}\n"
    assert calls == [1]


def test_emit_refuses_what_json_cannot_hold() -> None:
    result = _run_function(lambda: emit({"x": object()}, True, ""))
    assert isinstance(result.exception, TypeError)


def test_warn_goes_to_stderr() -> None:
    result = _run_function(lambda: warn("careful"))
    assert (result.stdout, result.stderr) == ("", "warning: careful\n")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad setting"), 2),
        (NotFoundError("no such thing"), 1),
        (PolicySyntaxError("bad policy"), 1),
    ],
)
def test_reporting_errors(error: Exception, code: int) -> None:
    def command() -> None:
        with reporting_errors():
            raise error

    result = _run_function(command)
    assert result.exit_code == code
    assert result.stderr == f"error: {error}\n"
    assert result.stdout == ""


def test_reporting_errors_lets_bugs_through() -> None:
    def command() -> None:
        with reporting_errors():
            raise KeyError("a bug")

    assert isinstance(_run_function(command).exception, KeyError)


def test_load_node_config_and_read_input(tmp_path: Path) -> None:
    NodeConfig(name="alice", directory=tmp_path).write()
    assert load_node_config(tmp_path, None).name == "alice"
    assert load_node_config(None, tmp_path / "node.toml").name == "alice"
    with pytest.raises(ConfigError, match="not both"):
        load_node_config(tmp_path, tmp_path / "node.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        read_input(tmp_path, "a file")
    assert read_input(tmp_path / "node.toml", "a file").startswith(b"#")
