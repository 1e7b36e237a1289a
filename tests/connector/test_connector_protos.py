"""The wire contract: the committed generated code matches protos/, only serde touches it,
and every rpc of every service has a handler on the node."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tds.connector import serde
from tds.connector._node import OpenNode
from tds.connector._pki import CertificateAuthority, enroll_node
from tds.connector._servicers import node_services

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "tds" / "_proto"
SCRIPT = ROOT / "scripts" / "generate_protos.py"
PROTO_MODULES = (serde.audit_pb2, serde.catalog_pb2, serde.negotiation_pb2, serde.node_pb2)
SERVICES = {
    "tds.v1.AuditService",
    "tds.v1.CatalogService",
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
    assert protos == {"audit", "catalog", "negotiation", "node"}
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


def test_the_protos_define_the_four_services() -> None:
    assert set(_rpcs_in_protos()) == SERVICES


def test_every_rpc_has_a_handler_and_every_handler_an_rpc(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca", "Demo space")
    enroll_node(tmp_path / "alice", "alice", ca)
    with OpenNode(tmp_path / "alice", name="alice") as node:
        served = {service.name: set(service.methods) for service in node_services(node)}
    assert served == _rpcs_in_protos()
