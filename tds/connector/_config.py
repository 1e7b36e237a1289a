"""A node's configuration file, ``node.toml``: who the node is, where it listens, its peers.

The file lives in the node directory, beside the node's key and certificate::

    [node]
    name = "alice"                       # the name in the node's certificate
    listen = "127.0.0.1:7443"            # where the daemon takes calls from peers
    # directory = "."                    # the node directory, relative to this file

    [transport]                          # connections to and from peers
    max_message_bytes = 4194304
    deadline_seconds = 10.0              # per call
    retry_attempts = 5                   # on UNAVAILABLE only
    retry_initial_backoff_seconds = 0.2
    retry_max_backoff_seconds = 5.0
    keepalive_time_seconds = 60.0
    keepalive_timeout_seconds = 20.0
    insecure = false                     # true turns TLS off: development only

    [daemon]
    max_workers = 16                     # calls served at once
    shutdown_grace_seconds = 10.0        # for calls in flight at shutdown

    [compute]                            # where the node's batch cryptography runs
    executor = "local"                   # this machine's cores, or "ray": the Ray cluster
                                         # that RAY_ADDRESS names (pip install 'tds[ray]')
    workers = 0                          # processes or tasks per batch; 0: every core
    scheme = "paillier"                  # or "ou": Okamoto-Uchiyama, for the keys this node
                                         # makes (its aggregations, the join-sums it serves)

    [log]
    format = "text"                      # or "json": one object per line
    level = "info"                       # debug, info, warning, error or critical

    [peers]                              # the nodes this node calls, by name
    bob = "bob.example.org:7443"

Every section and key is optional but ``[node] name``; the defaults are those above. A key
that is unknown, mistyped or out of range is refused with a ConfigError that names the file,
the key and the fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import math
import os
import tempfile
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tds._workers import EXECUTORS, MAX_WORKERS
from tds.connector._jobs import Compute
from tds.connector._node import DATABASE_FILE
from tds.connector._pki import NodeIdentity
from tds.connector._transport import TransportSettings, parse_address
from tds.connector._trust import validate_node_name
from tds.errors import ConfigError, NotFoundError, StorageError
from tds.he._scheme import SCHEMES

__all__ = [
    "DEFAULT_PORT",
    "LOG_LEVELS",
    "NODE_CONFIG_FILE",
    "NodeConfig",
    "node_config_path",
]

NODE_CONFIG_FILE = "node.toml"
DEFAULT_PORT = 7443
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MAX_PEERS = 1000
_TRANSPORT = TransportSettings()
# Far above any sensible setting: a larger number is a typo (milliseconds for seconds, say).
_MAX_SECONDS = 86_400.0


@dataclass(frozen=True)
class _Key:
    """One setting of node.toml: its section and key there, and its field in NodeConfig."""

    section: str
    key: str
    attribute: str
    kind: str  # "text", "integer", "seconds" or "boolean"
    comment: str
    high: float = _MAX_SECONDS
    low: int = 1
    zero_allowed: bool = False

    @property
    def where(self) -> str:
        return f"[{self.section}] {self.key}"


def _seconds(section: str, key: str, comment: str, *, zero_allowed: bool = False) -> _Key:
    return _Key(section, key, key, "seconds", comment, zero_allowed=zero_allowed)


_KEYS = (
    _Key("node", "name", "name", "text", "the name in the node's certificate"),
    _Key("node", "directory", "directory", "text", "the node directory, relative to this file"),
    _Key("node", "listen", "listen", "text", "where the daemon takes calls from peers"),
    _Key(
        "transport",
        "max_message_bytes",
        "max_message_bytes",
        "integer",
        "the largest message sent or taken",
        high=2**31 - 1,
    ),
    _seconds("transport", "deadline_seconds", "how long a call to a peer may take"),
    _Key(
        "transport",
        "retry_attempts",
        "retry_attempts",
        "integer",
        "tries of a call while the peer is unavailable",
        high=100,
    ),
    _seconds("transport", "retry_initial_backoff_seconds", "the pause before the first retry"),
    _seconds("transport", "retry_max_backoff_seconds", "the longest pause between retries"),
    _seconds("transport", "keepalive_time_seconds", "ping an idle connection this often"),
    _seconds("transport", "keepalive_timeout_seconds", "drop it if a ping goes unanswered"),
    _Key("transport", "insecure", "insecure", "boolean", "true turns TLS off: development only"),
    _Key("daemon", "max_workers", "max_workers", "integer", "calls served at once", high=1024),
    _seconds(
        "daemon", "shutdown_grace_seconds", "for calls in flight at shutdown", zero_allowed=True
    ),
    _Key(
        "compute",
        "executor",
        "executor",
        "text",
        '"local" (this machine\'s cores) or "ray" (the cluster RAY_ADDRESS names)',
    ),
    _Key(
        "compute",
        "workers",
        "workers",
        "integer",
        "processes or tasks per batch; 0: every core",
        low=0,
        high=MAX_WORKERS,
    ),
    _Key(
        "compute",
        "scheme",
        "scheme",
        "text",
        '"paillier", or "ou" for Okamoto-Uchiyama keys: several times faster',
    ),
    _Key("log", "format", "log_format", "text", '"text", or "json" for one object per line'),
    _Key("log", "level", "log_level", "text", ", ".join(LOG_LEVELS)),
)
_SECTIONS: dict[str, dict[str, _Key]] = {}
for _setting in _KEYS:
    _SECTIONS.setdefault(_setting.section, {})[_setting.key] = _setting
_PEERS = "peers"


def node_config_path(directory: str | Path) -> Path:
    """The path of the node.toml of node directory ``directory``."""
    if not isinstance(directory, str | Path):
        raise ConfigError(f"a node directory is a path, not {type(directory).__name__}")
    return Path(directory) / NODE_CONFIG_FILE


@dataclass(frozen=True, kw_only=True)
class NodeConfig:
    """A node's settings, as read from its node.toml (format in the module documentation).

    Build one with :meth:`load`, or directly (``name`` and ``directory`` are required; the
    rest default as documented). Either way every value is checked: ConfigError otherwise.
    ``path`` is the node.toml the settings came from or go to (default: ``node.toml`` in
    ``directory``). ``peers`` maps peer names to ``HOST:PORT`` and cannot be changed in
    place: :meth:`with_peer` and :meth:`without_peer` return new settings.
    """

    name: str
    directory: Path
    listen: str = f"127.0.0.1:{DEFAULT_PORT}"
    max_message_bytes: int = _TRANSPORT.max_message_bytes
    deadline_seconds: float = _TRANSPORT.deadline_seconds
    retry_attempts: int = _TRANSPORT.retry_attempts
    retry_initial_backoff_seconds: float = _TRANSPORT.retry_initial_backoff_seconds
    retry_max_backoff_seconds: float = _TRANSPORT.retry_max_backoff_seconds
    keepalive_time_seconds: float = _TRANSPORT.keepalive_time_seconds
    keepalive_timeout_seconds: float = _TRANSPORT.keepalive_timeout_seconds
    insecure: bool = _TRANSPORT.insecure
    max_workers: int = 16
    shutdown_grace_seconds: float = 10.0
    executor: str = "local"
    workers: int = 0
    scheme: str = "paillier"
    log_format: str = "text"
    log_level: str = "info"
    peers: Mapping[str, str] = field(default_factory=dict, hash=False)
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.directory, str | Path):
            raise ConfigError(
                f"[node] directory must be a path, not {type(self.directory).__name__}"
            )
        object.__setattr__(self, "directory", Path(self.directory))
        path = node_config_path(self.directory) if self.path is None else self.path
        if not isinstance(path, str | Path):
            raise ConfigError(f"path must be the path of node.toml, not {type(path).__name__}")
        object.__setattr__(self, "path", Path(path))
        for setting in _KEYS:
            if setting.attribute not in ("name", "directory"):
                _check_value(setting, getattr(self, setting.attribute))
        if self.retry_initial_backoff_seconds > self.retry_max_backoff_seconds:
            raise ConfigError(
                "[transport] retry_initial_backoff_seconds "
                f"({self.retry_initial_backoff_seconds}) is above retry_max_backoff_seconds "
                f"({self.retry_max_backoff_seconds}): lower the first or raise the second"
            )
        object.__setattr__(self, "log_level", self.log_level.lower())
        object.__setattr__(self, "peers", _checked_peers(self.peers))

    # -- reading and writing ------------------------------------------------------------------

    @classmethod
    def load(cls, path_or_directory: str | Path) -> NodeConfig:
        """The settings in ``path_or_directory``: a node directory holding node.toml, or a
        ``.toml`` file.

        ConfigError, naming the file and the key, for a missing or unreadable file, invalid
        TOML, or any unknown, mistyped or out-of-range setting. A relative ``[node]
        directory`` is relative to the file's own directory.
        """
        if not isinstance(path_or_directory, str | Path):
            raise ConfigError(
                "give the path of node.toml or of the node directory, not "
                f"{type(path_or_directory).__name__}"
            )
        path = Path(path_or_directory)
        if path.is_dir() or path.suffix != ".toml":
            path = node_config_path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"{path} not found: create the node with `tds node init NAME --dir "
                f"{path.parent}`, or point --dir or --config at an existing node"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read {path}: {error}") from None
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path} is not valid TOML: {error}") from None
        try:
            return cls(path=path, **_settings_from(document, path.parent))
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None

    def to_toml(self) -> str:
        """The settings as node.toml text; :meth:`load` reads them back unchanged."""
        lines = [
            f"# The settings of tds node {self.name}. `tds status` shows what they lead to.",
        ]
        for section, settings in _SECTIONS.items():
            lines += ["", f"[{section}]"]
            for key, setting in settings.items():
                if setting.attribute == "directory":
                    relative = _relative_directory(self.directory, self.path)
                    if relative is None:
                        continue
                    value: object = relative
                else:
                    value = getattr(self, setting.attribute)
                lines.append(f"{key} = {_toml_value(value)}  # {setting.comment}")
        lines += ["", f'[{_PEERS}]  # the nodes this node calls: NAME = "HOST:PORT"']
        lines += [f"{name} = {_toml_string(address)}" for name, address in self.peers.items()]
        return "\n".join(lines) + "\n"

    def write(self) -> Path:
        """Write the settings to :attr:`path` atomically (a crash leaves the old file or the
        new one, never half of one); returns the path."""
        assert self.path is not None
        text = self.to_toml()
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.")
        except OSError as error:
            raise StorageError(f"cannot write in {directory}: {error.strerror or error}") from None
        try:
            os.fchmod(descriptor, 0o644)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise StorageError(f"cannot write {self.path}: {error.strerror or error}") from None
        return self.path

    # -- what the settings point to -----------------------------------------------------------

    @property
    def transport_settings(self) -> TransportSettings:
        """The connection settings of ``[transport]``."""
        return TransportSettings(
            max_message_bytes=self.max_message_bytes,
            deadline_seconds=self.deadline_seconds,
            retry_attempts=self.retry_attempts,
            retry_initial_backoff_seconds=self.retry_initial_backoff_seconds,
            retry_max_backoff_seconds=self.retry_max_backoff_seconds,
            keepalive_time_seconds=self.keepalive_time_seconds,
            keepalive_timeout_seconds=self.keepalive_timeout_seconds,
            insecure=self.insecure,
        )

    @property
    def compute(self) -> Compute:
        """Where batch cryptography runs, from ``[compute]``."""
        return Compute(self.executor, self.workers or None, self.scheme)

    @property
    def database_path(self) -> Path:
        """The node's SQLite database."""
        return self.directory / DATABASE_FILE

    def load_identity(self) -> NodeIdentity:
        """The node's key and certificate, checked to name this node.

        NotFoundError while the node has no certificate; ConfigError when the certificate
        names another node than ``[node] name``.
        """
        identity = NodeIdentity.load(self.directory)
        if identity.name != self.name:
            raise ConfigError(
                f"{self.path} names the node {self.name!r} but its certificate names "
                f"{identity.name!r}: fix [node] name"
            )
        return identity

    # -- peers --------------------------------------------------------------------------------

    def peer_address(self, name: str) -> str:
        """The ``HOST:PORT`` of peer ``name``; NotFoundError, with the fix, if it has none."""
        validate_node_name(name)
        address = self.peers.get(name)
        if address is None:
            known = ", ".join(sorted(self.peers)) or "none yet"
            raise NotFoundError(
                f"no address for peer {name!r} in {self.path} (known peers: {known}); add one "
                f"with `tds node peer add {name} HOST:PORT`"
            )
        return address

    def with_peer(self, name: str, address: str) -> NodeConfig:
        """These settings with peer ``name`` at ``address`` (added, or its address changed)."""
        _check_name(name, where=f"[{_PEERS}]")
        _check_peer_address(name, address)
        return dataclasses.replace(self, peers={**self.peers, name: address})

    def without_peer(self, name: str) -> NodeConfig:
        """These settings without peer ``name``; NotFoundError if there is no such peer."""
        self.peer_address(name)
        return dataclasses.replace(
            self, peers={peer: address for peer, address in self.peers.items() if peer != name}
        )


def _check_name(name: object, *, where: str = "[node] name") -> str:
    try:
        return validate_node_name(name)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _settings_from(document: dict[str, Any], base: Path) -> dict[str, Any]:
    """NodeConfig's keyword arguments from a parsed node.toml whose directory is ``base``."""
    settings: dict[str, Any] = {}
    for section, table in document.items():
        if section == _PEERS:
            if not isinstance(table, dict):
                raise ConfigError(
                    '[peers] must be a table of NAME = "HOST:PORT" lines under a [peers] header'
                )
            settings["peers"] = table
            continue
        keys = _SECTIONS.get(section)
        if keys is None:
            raise ConfigError(
                f"unknown section [{section}]{_suggestion(section, [*_SECTIONS, _PEERS])}; "
                f"the sections are {', '.join(f'[{s}]' for s in [*_SECTIONS, _PEERS])}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{section} must be a table: write it as a [{section}] header")
        for key, value in table.items():
            setting = keys.get(key)
            if setting is None:
                raise ConfigError(
                    f"unknown key {key!r} in [{section}]{_suggestion(key, list(keys))}; "
                    f"[{section}] takes {', '.join(keys)}"
                )
            _check_type(setting, value)
            settings[setting.attribute] = value
    if "name" not in settings:
        raise ConfigError('[node] name is missing: add name = "NODE-NAME" under [node]')
    directory = base / Path(settings.get("directory", ".")).expanduser()
    settings["directory"] = Path(os.path.abspath(directory))
    return settings


def _suggestion(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_type(setting: _Key, value: object) -> None:
    expected = {
        "text": (str, "a string in quotes"),
        "integer": (int, "a whole number"),
        "seconds": ((int, float), "a number of seconds"),
        "boolean": (bool, "true or false"),
    }[setting.kind]
    if (isinstance(value, bool) and setting.kind != "boolean") or not isinstance(
        value, expected[0]
    ):
        raise ConfigError(f"{setting.where} must be {expected[1]}, not {value!r}")


def _check_value(setting: _Key, value: object) -> None:
    _check_type(setting, value)
    if setting.kind == "integer":
        assert isinstance(value, int)
        if not setting.low <= value <= setting.high:
            raise ConfigError(
                f"{setting.where} must be from {int(setting.low)} to {int(setting.high)}, "
                f"not {value}"
            )
    elif setting.kind == "seconds":
        assert isinstance(value, int | float)
        lowest = "0 or more" if setting.zero_allowed else "above 0"
        if (
            not math.isfinite(value)
            or value < 0
            or (value == 0 and not setting.zero_allowed)
            or value > setting.high
        ):
            raise ConfigError(
                f"{setting.where} must be {lowest} and at most {setting.high:g} seconds, "
                f"not {value}"
            )
    elif setting.attribute == "listen":
        try:
            parse_address(value, listening=True)
        except ConfigError:
            raise ConfigError(
                f"[node] listen must be HOST:PORT (e.g. 127.0.0.1:{DEFAULT_PORT}, or "
                f"0.0.0.0:{DEFAULT_PORT} to take calls on every interface), not {value!r}"
            ) from None
    elif setting.attribute == "executor" and value not in EXECUTORS:
        raise ConfigError(
            f'[compute] executor must be "local" or "ray", not {value!r}: any other executor '
            "is for programs that build a Client themselves"
        )
    elif setting.attribute == "scheme" and value not in SCHEMES:
        raise ConfigError(f'[compute] scheme must be "paillier" or "ou", not {value!r}')
    elif setting.attribute == "log_format" and value not in LOG_FORMATS:
        raise ConfigError(f'[log] format must be "text" or "json", not {value!r}')
    elif setting.attribute == "log_level" and str(value).lower() not in LOG_LEVELS:
        raise ConfigError(f"[log] level must be one of {', '.join(LOG_LEVELS)}, not {value!r}")


def _check_peer_address(name: str, address: object) -> None:
    try:
        parse_address(address)
    except ConfigError:
        raise ConfigError(
            f'[peers] {name} must be the peer\'s address as "HOST:PORT" (e.g. '
            f'"{name}.example.org:{DEFAULT_PORT}"), not {address!r}'
        ) from None


def _checked_peers(peers: object) -> Mapping[str, str]:
    if not isinstance(peers, Mapping):
        raise ConfigError(f'[peers] must map peer names to "HOST:PORT", not {peers!r}')
    if len(peers) > MAX_PEERS:
        raise ConfigError(f"[peers] lists {len(peers)} peers; at most {MAX_PEERS} are allowed")
    for name, address in peers.items():
        _check_name(name, where="[peers]")
        _check_peer_address(name, address)
    return types.MappingProxyType(dict(sorted(peers.items())))


def _relative_directory(directory: Path, path: Path | None) -> str | None:
    """``[node] directory`` as written in node.toml at ``path``; None for the file's own."""
    assert path is not None
    relative = os.path.relpath(os.path.abspath(directory), os.path.abspath(path.parent))
    return None if relative == "." else relative


def _toml_string(text: str) -> str:
    # A TOML basic string takes JSON's escapes; ASCII-only output avoids encoding surprises.
    return json.dumps(text, ensure_ascii=True)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return _toml_string(str(value))
