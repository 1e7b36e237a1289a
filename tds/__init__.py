"""tds: trusted data spaces.

Compute on each other's data without handing it over: Paillier aggregation
(:mod:`tds.he`), private set intersection (:mod:`tds.psi`) and usage policies
that are enforced on every computation (:mod:`tds.policy`). :mod:`tds.sectors` holds the
ocean, healthcare and power data spaces' datasets and terms.
"""

import importlib
from typing import Any

from tds import errors, he, policy, progress, psi
from tds.progress import progress_bar

__all__ = ["__version__", "errors", "he", "policy", "progress", "progress_bar", "psi", "sectors"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The sectors build on the connector (and so on grpc); the crypto and policy layers must
    # import without it.
    if name == "sectors":
        return importlib.import_module("tds.sectors")
    raise AttributeError(f"module 'tds' has no attribute {name!r}")
