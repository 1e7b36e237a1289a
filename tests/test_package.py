"""Package-wide contracts: curated exports, the layer rule and the exception tree."""

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import tds
import tds.errors

PUBLIC_MODULES = [
    "tds",
    "tds.connector",
    "tds.errors",
    "tds.he",
    "tds.policy",
    "tds.progress",
    "tds.psi",
    "tds.sectors",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_unique_and_resolvable(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported)
    for attribute in exported:
        assert hasattr(module, attribute), f"{name}.{attribute} is exported but missing"


def test_crypto_and_policy_layers_do_not_import_grpc() -> None:
    code = (
        "import sys, tds.he, tds.policy, tds.psi\n"
        "assert 'grpc' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_exception_is_drawn_in_the_errors_docstring() -> None:
    classes = [
        obj
        for obj in vars(tds.errors).values()
        if inspect.isclass(obj) and issubclass(obj, tds.errors.TdsError)
    ]
    assert sorted(c.__name__ for c in classes) == tds.errors.__all__
    for cls in classes:
        assert cls.__name__ in tds.errors.__doc__
        assert cls.__module__ == "tds.errors"


def _library_calls(name: str) -> list[tuple[str, ast.Call]]:
    calls = []
    for path in sorted(Path(tds.__file__).parent.rglob("*.py")):
        if "_proto" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(name):
                calls.append((str(path), node))
    return calls


def test_the_library_logs_under_tds_and_never_prints() -> None:
    loggers = _library_calls("getLogger")
    assert loggers, "tds logs nothing at all"
    for path, call in loggers:
        name = call.args[0]
        assert isinstance(name, ast.Constant), f"{path}: logger name must be a literal"
        assert name.value == "tds" or name.value.startswith("tds."), f"{path}: {name.value}"
    assert [
        path for path, call in _library_calls("print") if ast.unparse(call.func) == "print"
    ] == []
