"""The policy layer imports only the standard library, tds.errors and PyLD (its JSON-LD
processor)."""

import ast
import sys
from pathlib import Path

import tds.policy

POLICY_DIR = Path(tds.policy.__file__).parent


def test_policy_modules_import_only_stdlib_errors_and_each_other():
    for path in POLICY_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                allowed = name == "tds.errors" or name.startswith(("tds.policy", "pyld"))
                assert allowed or (top != "tds" and top in sys.stdlib_module_names), (path, name)


def test_public_api_is_curated_and_sorted():
    exported = tds.policy.__all__
    assert exported == sorted(exported) and len(set(exported)) == len(exported)
    for name in exported:
        assert getattr(tds.policy, name).__module__.startswith("tds.policy")
