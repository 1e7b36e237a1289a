"""Package-wide contracts: curated exports, the layer rule and the exception tree."""

import importlib
import inspect
import subprocess
import sys

import pytest

import tds
import tds.errors

PUBLIC_MODULES = [
    "tds",
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
