"""node.toml: defaults, the round trip, every validation error, relative paths and peers."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from tds.connector import CertificateAuthority, enroll_node
from tds.connector._config import DEFAULT_PORT, NodeConfig, node_config_path
from tds.connector._jobs import Compute
from tds.connector._transport import TransportSettings
from tds.errors import ConfigError, NotFoundError, StorageError


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "node.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_transport_defaults(tmp_path: Path) -> None:
    config = NodeConfig.load(write(tmp_path, '[node]\nname = "alice"\n'))
    assert config.name == "alice"
    assert config.directory == tmp_path
    assert config.path == tmp_path / "node.toml"
    assert config.listen == f"127.0.0.1:{DEFAULT_PORT}"
    assert config.transport_settings == TransportSettings()
    assert (config.max_workers, config.shutdown_grace_seconds) == (16, 10.0)
    assert (config.log_format, config.log_level) == ("text", "info")
    assert config.insecure is False
    assert dict(config.peers) == {}
    assert config.database_path == tmp_path / "node.db"
    assert config.compute == Compute("local", None)


def test_compute_names_the_executor_its_workers_and_the_scheme(tmp_path: Path) -> None:
    text = '[node]\nname = "alice"\n[compute]\nexecutor = "ray"\nworkers = 8\nscheme = "ou"\n'
    config = NodeConfig.load(write(tmp_path, text))
    assert config.compute == Compute("ray", 8, "ou")
    assert NodeConfig.load(write(tmp_path, '[node]\nname = "a"\n')).compute.scheme == "paillier"
    assert config.compute.options() == {"executor": "ray", "workers": 8}
    assert NodeConfig.load(write(tmp_path, config.to_toml())) == config


def test_load_takes_the_directory_or_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "n", '[node]\nname = "alice"\n')
    assert NodeConfig.load(path) == NodeConfig.load(tmp_path / "n") == NodeConfig.load(str(path))
    assert node_config_path(tmp_path / "n") == path


def test_every_setting_is_read(tmp_path: Path) -> None:
    config = NodeConfig.load(
        write(
            tmp_path,
            """
            [node]
            name = "hospital-3"
            listen = "[::]:0"
            [transport]
            max_message_bytes = 1024
            deadline_seconds = 2
            retry_attempts = 1
            retry_initial_backoff_seconds = 0.5
            retry_max_backoff_seconds = 0.5
            keepalive_time_seconds = 30
            keepalive_timeout_seconds = 5.5
            insecure = true
            [daemon]
            max_workers = 2
            shutdown_grace_seconds = 0
            [log]
            format = "json"
            level = "DEBUG"
            [peers]
            insurer = "insurer.example.org:7443"
            bank = "10.0.0.7:9000"
            """,
        )
    )
    assert config.listen == "[::]:0"
    assert config.transport_settings == TransportSettings(
        max_message_bytes=1024,
        deadline_seconds=2,
        retry_attempts=1,
        retry_initial_backoff_seconds=0.5,
        retry_max_backoff_seconds=0.5,
        keepalive_time_seconds=30,
        keepalive_timeout_seconds=5.5,
        insecure=True,
    )
    assert (config.max_workers, config.shutdown_grace_seconds) == (2, 0)
    assert (config.log_format, config.log_level) == ("json", "debug")
    assert list(config.peers) == ["bank", "insurer"]
    assert config.peer_address("insurer") == "insurer.example.org:7443"


def test_round_trip(tmp_path: Path) -> None:
    config = NodeConfig(
        name="alice",
        directory=tmp_path,
        listen="0.0.0.0:9443",
        max_message_bytes=123456,
        deadline_seconds=1.25,
        retry_attempts=3,
        retry_initial_backoff_seconds=1e-05,
        retry_max_backoff_seconds=7.0,
        keepalive_time_seconds=11.0,
        keepalive_timeout_seconds=3.0,
        insecure=True,
        max_workers=4,
        shutdown_grace_seconds=2.5,
        log_format="json",
        log_level="warning",
        peers={"bob": "bob.example.org:7443", "carol": "[2001:db8::1]:7443"},
    )
    assert config.write() == tmp_path / "node.toml"
    loaded = NodeConfig.load(tmp_path)
    assert loaded == config
    assert loaded.to_toml() == config.to_toml()
    assert "directory" not in config.to_toml()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_the_written_file_explains_itself(tmp_path: Path) -> None:
    text = NodeConfig(name="alice", directory=tmp_path).to_toml()
    assert "insecure = false  # true turns TLS off: development only" in text
    assert "[peers]" in text


def test_write_replaces_the_file_atomically(tmp_path: Path) -> None:
    config = NodeConfig(name="alice", directory=tmp_path / "new")
    config.write()
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    config.with_peer("bob", "localhost:1").write()
    assert dict(NodeConfig.load(tmp_path / "new").peers) == {"bob": "localhost:1"}


def test_write_failure_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="cannot write"):
        NodeConfig(name="alice", directory=tmp_path / "file").write()


def test_a_relative_directory_is_relative_to_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "etc", '[node]\nname = "alice"\ndirectory = "../data"\n')
    config = NodeConfig.load(path)
    assert config.directory.resolve() == (tmp_path / "data").resolve()
    assert config.database_path.resolve() == (tmp_path / "data" / "node.db").resolve()
    assert config.path == path
    assert 'directory = "../data"' in config.to_toml()
    config.write()
    assert NodeConfig.load(path) == config


def test_a_relative_path_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "node", '[node]\nname = "alice"\ndirectory = "data"\n')
    monkeypatch.chdir(tmp_path)
    config = NodeConfig.load("node")
    assert config.directory == tmp_path / "node" / "data"
    assert config.directory.is_absolute()


def test_an_absolute_directory_stays(tmp_path: Path) -> None:
    path = write(tmp_path / "etc", f'[node]\nname = "alice"\ndirectory = "{tmp_path}/data"\n')
    assert NodeConfig.load(path).directory == tmp_path / "data"


def test_peers(tmp_path: Path) -> None:
    config = NodeConfig(name="alice", directory=tmp_path)
    with_bob = config.with_peer("bob", "bob.example.org:7443")
    assert dict(with_bob.peers) == {"bob": "bob.example.org:7443"}
    assert dict(config.peers) == {}
    moved = with_bob.with_peer("bob", "10.0.0.2:7443")
    assert moved.peer_address("bob") == "10.0.0.2:7443"
    assert dict(moved.without_peer("bob").peers) == {}
    with pytest.raises(TypeError):
        moved.peers["eve"] = "x:1"  # type: ignore[index]


def test_an_unknown_peer_says_how_to_add_it(tmp_path: Path) -> None:
    config = NodeConfig(name="alice", directory=tmp_path).with_peer("bob", "localhost:1")
    with pytest.raises(NotFoundError, match=r"known peers: bob.*tds node peer add carol"):
        config.peer_address("carol")
    with pytest.raises(NotFoundError, match="carol"):
        config.without_peer("carol")


@pytest.mark.parametrize(
    ("name", "address", "message"),
    [
        ("Bob", "localhost:1", r"\[peers\]: 'Bob' is not a node name"),
        ("bob", "localhost", r"\[peers\] bob must be the peer's address as \"HOST:PORT\""),
        ("bob", "localhost:0", r"\[peers\] bob must be"),
        ("bob", 7443, r"\[peers\] bob must be"),
    ],
)
def test_bad_peers_are_refused(tmp_path: Path, name: str, address: object, message: str) -> None:
    config = NodeConfig(name="alice", directory=tmp_path)
    with pytest.raises(ConfigError, match=message):
        config.with_peer(name, address)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        NodeConfig(name="alice", directory=tmp_path, peers={name: address})  # type: ignore[dict-item]


def test_load_identity(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca", "test space")
    enroll_node(tmp_path / "alice", "alice", ca)
    assert NodeConfig(name="alice", directory=tmp_path / "alice").load_identity().name == "alice"
    with pytest.raises(ConfigError, match=r"certificate names 'alice': fix \[node\] name"):
        NodeConfig(name="bob", directory=tmp_path / "alice").load_identity()
    with pytest.raises(NotFoundError):
        NodeConfig(name="carol", directory=tmp_path / "carol").load_identity()


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"node.toml not found: create the node with `tds node"):
        NodeConfig.load(tmp_path)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[node\n")
    with pytest.raises(ConfigError, match=rf"{path} is not valid TOML"):
        NodeConfig.load(path)


def test_a_file_that_is_not_text(tmp_path: Path) -> None:
    (tmp_path / "node.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="cannot read"):
        NodeConfig.load(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"\[node\] name is missing: add name = "),
        ('[node]\nname = "Alice"\n', r"\[node\] name: 'Alice' is not a node name"),
        ("[node]\nname = 7\n", r"\[node\] name must be a string in quotes, not 7"),
        ('[nodes]\nname = "a"\n', r"unknown section \[nodes\] \(did you mean 'node'\?\)"),
        ('[node]\nname = "a"\nport = 1\n', r"unknown key 'port' in \[node\]; \[node\] takes"),
        (
            '[node]\nname = "a"\n[transport]\ndeadline = 1\n',
            r"unknown key 'deadline' in \[transport\] \(did you mean 'deadline_seconds'\?\)",
        ),
        ('node = "a"\n', r"node must be a table: write it as a \[node\] header"),
        ('peers = "a"\n[node]\nname = "a"\n', r"\[peers\] must be a table"),
        ('[node]\nname = "a"\nlisten = "localhost"\n', r"\[node\] listen must be HOST:PORT"),
        ('[node]\nname = "a"\nlisten = "h:70000"\n', r"\[node\] listen must be HOST:PORT"),
        ('[node]\nname = "a"\ndirectory = 1\n', r"\[node\] directory must be a string"),
        (
            '[node]\nname = "a"\n[transport]\nmax_message_bytes = 0\n',
            r"\[transport\] max_message_bytes must be from 1 to 2147483647, not 0",
        ),
        (
            '[node]\nname = "a"\n[transport]\nmax_message_bytes = "4MB"\n',
            r"\[transport\] max_message_bytes must be a whole number, not '4MB'",
        ),
        (
            '[node]\nname = "a"\n[transport]\nmax_message_bytes = 1.5\n',
            r"max_message_bytes must be a whole number",
        ),
        (
            '[node]\nname = "a"\n[transport]\nretry_attempts = true\n',
            r"retry_attempts must be a whole number, not True",
        ),
        (
            '[node]\nname = "a"\n[transport]\nretry_attempts = 101\n',
            r"retry_attempts must be from 1 to 100",
        ),
        (
            '[node]\nname = "a"\n[transport]\ndeadline_seconds = 0\n',
            r"deadline_seconds must be above 0 and at most 86400 seconds, not 0",
        ),
        (
            '[node]\nname = "a"\n[transport]\ndeadline_seconds = -1.0\n',
            r"deadline_seconds must be above 0",
        ),
        (
            '[node]\nname = "a"\n[transport]\nkeepalive_time_seconds = inf\n',
            r"keepalive_time_seconds must be above 0",
        ),
        (
            '[node]\nname = "a"\n[transport]\nkeepalive_timeout_seconds = nan\n',
            r"keepalive_timeout_seconds must be above 0",
        ),
        (
            '[node]\nname = "a"\n[transport]\ndeadline_seconds = 100000\n',
            r"deadline_seconds must be above 0 and at most 86400 seconds",
        ),
        (
            '[node]\nname = "a"\n[transport]\ndeadline_seconds = "10s"\n',
            r"deadline_seconds must be a number of seconds, not '10s'",
        ),
        (
            '[node]\nname = "a"\n[transport]\nretry_initial_backoff_seconds = 9.0\n',
            r"retry_initial_backoff_seconds \(9.0\) is above retry_max_backoff_seconds",
        ),
        (
            '[node]\nname = "a"\n[transport]\ninsecure = "yes"\n',
            r"\[transport\] insecure must be true or false, not 'yes'",
        ),
        (
            '[node]\nname = "a"\n[daemon]\nmax_workers = 0\n',
            r"\[daemon\] max_workers must be from 1 to 1024",
        ),
        (
            '[node]\nname = "a"\n[daemon]\nshutdown_grace_seconds = -1\n',
            r"shutdown_grace_seconds must be 0 or more",
        ),
        (
            '[node]\nname = "a"\n[compute]\nexecutor = "threads"\n',
            r'\[compute\] executor must be "local" or "ray", not \'threads\'',
        ),
        (
            '[node]\nname = "a"\n[compute]\nscheme = "rsa"\n',
            r'\[compute\] scheme must be "paillier" or "ou", not \'rsa\'',
        ),
        (
            '[node]\nname = "a"\n[compute]\nworkers = -1\n',
            r"\[compute\] workers must be from 0 to 256, not -1",
        ),
        ('[node]\nname = "a"\n[log]\nformat = "xml"\n', r'\[log\] format must be "text" or "json"'),
        ('[node]\nname = "a"\n[log]\nlevel = "loud"\n', r"\[log\] level must be one of debug"),
        ('[node]\nname = "a"\n[peers]\nBob = "h:1"\n', r"\[peers\]: 'Bob' is not a node name"),
        ('[node]\nname = "a"\n[peers]\nbob = "h"\n', r"\[peers\] bob must be the peer's address"),
        ('[node]\nname = "a"\n[peers]\nbob = 1\n', r"\[peers\] bob must be the peer's address"),
        (
            '[node]\nname = "a"\n[peers]\nbob = { host = "h" }\n',
            r"\[peers\] bob must be the peer's address",
        ),
    ],
)
def test_every_mistake_names_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as raised:
        NodeConfig.load(path)
    assert str(raised.value).startswith(f"{path}")


def test_too_many_peers(tmp_path: Path) -> None:
    peers = {f"p{index}": "h:1" for index in range(1001)}
    with pytest.raises(ConfigError, match="at most 1000"):
        NodeConfig(name="alice", directory=tmp_path, peers=peers)


def test_direct_construction_is_checked_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[transport\] retry_attempts must be from 1 to 100"):
        NodeConfig(name="alice", directory=tmp_path, retry_attempts=0)
    with pytest.raises(ConfigError, match=r"\[node\] directory must be a path"):
        NodeConfig(name="alice", directory=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"path must be the path of node\.toml"):
        NodeConfig(name="alice", directory=tmp_path, path=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must map peer names"):
        NodeConfig(name="alice", directory=tmp_path, peers=["bob"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"give the path of node\.toml"):
        NodeConfig.load(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="a node directory is a path"):
        node_config_path(None)  # type: ignore[arg-type]


def test_replace_checks_again(tmp_path: Path) -> None:
    config = NodeConfig(name="alice", directory=tmp_path)
    assert dataclasses.replace(config, insecure=True).insecure is True
    with pytest.raises(ConfigError, match="insecure must be true or false"):
        dataclasses.replace(config, insecure="yes")
