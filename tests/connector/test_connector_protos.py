"""The wire contract: the committed generated code matches protos/, only serde touches it,
every rpc of every service has a handler on the node, and serde checks what peers send."""

from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from tds.connector import serde
from tds.connector._audit import AuditEntry, EventKind
from tds.connector._job_provider import JobProvider
from tds.connector._node import NodeInfo, OpenNode
from tds.connector._pki import CertificateAuthority, enroll_node
from tds.connector._servicers import node_services
from tds.errors import DecodeError

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "tds" / "_proto"
SCRIPT = ROOT / "scripts" / "generate_protos.py"
PROTO_MODULES = (
    serde.audit_pb2,
    serde.catalog_pb2,
    serde.job_pb2,
    serde.negotiation_pb2,
    serde.node_pb2,
)
SERVICES = {
    "tds.v1.AuditService",
    "tds.v1.CatalogService",
    "tds.v1.JobService",
    "tds.v1.NegotiationService",
    "tds.v1.NodeService",
}


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _generate(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_regenerating_reproduces_the_committed_code_byte_for_byte(tmp_path: Path) -> None:
    result = _generate(tmp_path / "generated")
    assert result.returncode == 0, result.stderr
    fresh, committed = _tree(tmp_path / "generated"), _tree(GENERATED)
    assert sorted(fresh) == sorted(committed), "run scripts/generate_protos.py and commit"
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"tds/_proto is stale in {changed}: run scripts/generate_protos.py"


def test_every_proto_file_has_a_generated_module() -> None:
    protos = {path.stem for path in (ROOT / "protos" / "tds" / "v1").glob("*.proto")}
    assert protos == {"audit", "catalog", "job", "negotiation", "node"}
    assert {module.__name__.rsplit(".", 1)[1] for module in PROTO_MODULES} == {
        f"{name}_pb2" for name in protos
    }


def test_the_generator_refuses_to_replace_a_directory_it_did_not_write(tmp_path: Path) -> None:
    keep = tmp_path / "precious.txt"
    keep.write_text("not generated")
    result = _generate(tmp_path)
    assert result.returncode != 0
    assert "not a generated package" in result.stderr
    assert keep.read_text() == "not generated"


def test_the_generator_replaces_its_own_output(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert _generate(out).returncode == 0
    (out / "v1" / "stale_pb2.py").write_text("# left from an old proto\n")
    assert _generate(out).returncode == 0
    assert not (out / "v1" / "stale_pb2.py").exists()
    assert _tree(out) == _tree(GENERATED)


def _imports(source: str, path: Path) -> set[str]:
    """The absolute names of the modules ``source`` imports, as if it were the file ``path``
    (which resolves its relative imports)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _imports_generated_code(source: str, path: Path) -> bool:
    return any(
        name == "tds._proto" or name.startswith("tds._proto.") for name in _imports(source, path)
    )


def test_only_serde_imports_the_generated_code() -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tds").rglob("*.py")
        if GENERATED not in path.parents and _imports_generated_code(path.read_text(), path)
    )
    assert importers == ["tds/connector/serde.py"]


@pytest.mark.parametrize(
    "source",
    [
        "import tds._proto.v1.node_pb2",
        "from tds._proto.v1 import node_pb2",
        "from tds import _proto",
        "from .. import _proto",
        "from .._proto.v1 import audit_pb2",
        "def f():\n    from tds._proto import v1",
    ],
)
def test_the_import_scan_sees_every_spelling(source: str) -> None:
    # The scan above is only as good as this; the path only places relative imports.
    assert _imports_generated_code(source, ROOT / "tds" / "connector" / "probe.py")


@pytest.mark.parametrize(
    "source", ["import tds.connector.serde", "from . import _proto_helpers", "import tdsx._proto"]
)
def test_the_import_scan_does_not_see_other_modules(source: str) -> None:
    assert not _imports_generated_code(source, ROOT / "tds" / "connector" / "probe.py")


def _rpcs_in_protos() -> dict[str, set[str]]:
    return {
        service.full_name: {method.name for method in service.methods}
        for module in PROTO_MODULES
        for service in module.DESCRIPTOR.services_by_name.values()
    }


def test_the_protos_define_the_five_services() -> None:
    assert set(_rpcs_in_protos()) == SERVICES


def test_every_rpc_has_a_handler_and_every_handler_an_rpc(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca", "Demo space")
    enroll_node(tmp_path / "alice", "alice", ca)
    with OpenNode(tmp_path / "alice", name="alice") as node:
        services = node_services(node, JobProvider(node, _no_contributions))
        served = {service.name: service.method_names for service in services}
    assert served == _rpcs_in_protos()


def _no_contributions(*_: object) -> tuple[bytes, int]:
    raise AssertionError("no job runs here")


# -- decoding what a peer sends (node and audit messages) ---------------------------------

NOT_AFTER = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _node_info(**fields: object) -> bytes:
    message = serde.node_pb2.NodeInfo(
        name="alice", software_version="0.1.0", protocol_versions=["tds.v1"], crl_number=3
    )
    message.certificate_not_after.FromDatetime(NOT_AFTER)
    for name, value in fields.items():
        if name == "certificate_not_after":
            message.ClearField(name)
            if value is not None:
                message.certificate_not_after.seconds = int(value)  # type: ignore[call-overload]
        else:
            setattr(message, name, value)
    return message.SerializeToString()


def test_node_info_round_trips() -> None:
    info = NodeInfo(
        name="alice",
        software_version="0.1.0",
        protocol_versions=("tds.v1",),
        job_kinds=("sum", "psi"),
        certificate_not_after=NOT_AFTER,
        crl_number=7,
    )
    assert serde.decode_node_info(serde.encode_node_info(info)) == info


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": ""}, "node name is missing"),
        ({"name": "Alice!"}, "invalid node name"),
        ({"name": "a" * 200}, "over the 128 allowed"),
        ({"software_version": ""}, "software version is missing"),
        ({"certificate_not_after": None}, "certificate_not_after is missing"),
        ({"certificate_not_after": 2**62}, "invalid time"),
    ],
)
def test_node_info_from_a_peer_is_checked(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        serde.decode_node_info(_node_info(**fields))


@pytest.mark.parametrize(
    "data", [b"\x0a\xff", b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x08" + b"\xff" * 11]
)
def test_malformed_bytes_are_a_decode_error_naming_the_message(data: bytes) -> None:
    with pytest.raises(DecodeError, match="malformed NodeInfo message"):
        serde.decode_node_info(data)
    with pytest.raises(DecodeError, match="malformed GetInfoRequest message"):
        serde.decode_get_info_request(data)


def test_a_proof_from_a_peer_is_bounded() -> None:
    hashes = [bytes([i]) * 32 for i in range(3)]
    assert serde.decode_proof(serde.encode_proof(hashes)) == hashes
    with pytest.raises(DecodeError, match="at most 128 hashes of 32 bytes"):
        serde.decode_proof(serde.encode_proof([b"\x00" * 32] * 129))
    with pytest.raises(DecodeError, match="at most 128 hashes of 32 bytes"):
        serde.decode_proof(serde.encode_proof([b"\x00" * 31]))


def test_a_missing_checkpoint_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="checkpoint is missing"):
        serde.decode_checkpoint(serde.audit_pb2.CheckpointReply().SerializeToString())
    with pytest.raises(DecodeError):
        serde.decode_checkpoint(
            serde.audit_pb2.CheckpointReply(checkpoint=b"{}").SerializeToString()
        )


def test_a_page_of_entries_must_lie_in_the_range_asked_for() -> None:
    entry = AuditEntry(EventKind.JOB, NOT_AFTER, {"kind": "sum"}).to_bytes()
    page = serde.encode_entries([(4, entry)], tree_size=10, next_start=6)
    [(index, decoded)], next_start = serde.decode_entries(page, 3)
    assert (index, decoded.to_bytes(), next_start) == (4, entry, 6)
    # An empty page still moves forward.
    assert serde.decode_entries(serde.encode_entries([], 10, 6), 3) == ([], 6)
    for bad_page, start in [
        (serde.encode_entries([], 10, 3), 3),  # does not move forward
        (serde.encode_entries([(2, entry)], 10, 6), 3),  # before start
        (serde.encode_entries([(6, entry)], 10, 6), 3),  # at next_start
    ]:
        with pytest.raises(DecodeError, match="outside the range"):
            serde.decode_entries(bad_page, start)
    with pytest.raises(DecodeError):
        serde.decode_entries(serde.encode_entries([(4, b"not an entry")], 10, 6), 3)
