"""The process pool that the crypto core shares.

gmpy2, hashing and the Python glue around OpenSSL hold the GIL, so only
processes run batch work in parallel. One pool per worker count serves both
``tds.he`` and ``tds.psi``, so an intersection-sum does not run two pools on
the same cores. Workers are forked from a forkserver with ``tds`` preloaded:
safe beside gRPC threads, and quick to start.

Workers never run the caller's ``__main__`` (see :mod:`tds._worker_bootstrap`),
so a first script without ``if __name__ == "__main__":``, or one piped to
``python -``, gets its parallelism like any other.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.context
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tds._worker_bootstrap import WORKER_NAME
from tds.errors import ConfigError

_log = logging.getLogger("tds.workers")
# More processes than this on one machine only thrash; larger jobs scale out instead.
MAX_WORKERS = 256


def default_workers() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_workers(workers: int | None) -> int:
    """``workers``, checked, or :func:`default_workers` when it is None."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"workers must be an integer from 1 to {MAX_WORKERS}, got {workers!r}")
    return workers


@functools.cache
def process_pool(workers: int) -> Executor:
    """The pool of ``workers`` processes shared by every batch in this process.

    Where worker processes cannot start at all, batch work runs in this process
    instead, after one warning: slower, never broken.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_WorkerContext())
    try:
        pool.submit(os.getpid).result()
    except (BrokenProcessPool, OSError) as error:
        pool.shutdown(wait=False, cancel_futures=True)
        warnings.warn(
            f"tds could not start worker processes ({error}); batch work runs in this "
            "process, on one core. A script that starts processes of its own should keep "
            'its code under `if __name__ == "__main__":`.',
            RuntimeWarning,
            stacklevel=2,
        )
        return InlineExecutor()
    _log.debug("started %d worker processes", workers)
    return pool


class InlineExecutor(Executor):
    """Runs each task when it is submitted, in the calling process."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # the caller sees it through future.result()
            future.set_exception(error)
        return future


class _WorkerProcess(multiprocessing.context.ForkServerProcess):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = WORKER_NAME


class _WorkerContext(multiprocessing.context.ForkServerContext):
    """Forkserver processes named as tds workers, with tds preloaded in the server."""

    Process = _WorkerProcess

    def __init__(self) -> None:
        super().__init__()
        self.set_forkserver_preload(["tds._worker_bootstrap"])
