"""tds: trusted data spaces.

Compute on each other's data without handing it over: Paillier aggregation
(:mod:`tds.he`), private set intersection (:mod:`tds.psi`) and usage policies
that are enforced on every computation (:mod:`tds.policy`).
"""

from tds import errors, he, policy, progress, psi, sectors
from tds.progress import progress_bar

__all__ = ["__version__", "errors", "he", "policy", "progress", "progress_bar", "psi", "sectors"]

__version__ = "0.1.0"
