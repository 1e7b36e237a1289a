"""The process pool that the crypto core shares.

gmpy2, hashing and the Python glue around OpenSSL hold the GIL, so only
processes run batch work in parallel. One pool per worker count serves both
``tds.he`` and ``tds.psi``, so an intersection-sum does not run two pools on
the same cores. Workers are forked from a forkserver with ``tds`` preloaded:
safe beside gRPC threads, and quick to start.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from tds.errors import ConfigError


def default_workers() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_workers(workers: int | None) -> int:
    """``workers``, checked, or :func:`default_workers` when it is None."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    return workers


@functools.cache
def process_pool(workers: int) -> ProcessPoolExecutor:
    """The pool of ``workers`` processes shared by every batch in this process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tds"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)
