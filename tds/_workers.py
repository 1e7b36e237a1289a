"""Where the crypto core runs its batch work: the executor behind ``executor=``.

``"local"`` (the default) is the process pool of this machine. gmpy2, hashing and the Python
glue around OpenSSL hold the GIL, so only processes run batch work in parallel. One pool per
worker count serves both ``tds.he`` and ``tds.psi``, so an intersection-sum does not run two
pools on the same cores. Workers are forked from a forkserver with ``tds`` preloaded: safe
beside gRPC threads, and quick to start. ``"ray"`` is a Ray cluster (:mod:`tds._ray`), and
any ``concurrent.futures.Executor`` is taken as it is.

Whichever runs it, a worker that dies takes only its batch down, as a
:class:`~tds.errors.WorkerError`; a broken local pool is replaced for the next batch.

Workers never run the caller's ``__main__`` (see :mod:`tds._worker_bootstrap`),
so a first script without ``if __name__ == "__main__":``, or one piped to
``python -``, gets its parallelism like any other.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tds._worker_bootstrap import WORKER_NAME
from tds.errors import ConfigError, WorkerError

_log = logging.getLogger("tds.workers")
# More processes than this on one machine only thrash; larger jobs scale out instead.
MAX_WORKERS = 256
EXECUTORS = ("local", "ray")
# What ``executor=`` takes: a name from EXECUTORS, or an Executor of the caller's.
ExecutorChoice = str | Executor


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


def resolve_executor(
    executor: ExecutorChoice = "local", workers: int | None = None
) -> tuple[Executor | None, int]:
    """The executor to submit batch work to, and how many tasks to split a batch into.

    ``"local"``: the process pool of ``workers`` processes (default: every core), or None
    (run here) for one worker. ``"ray"``: the Ray cluster of ``RAY_ADDRESS``, or a local one,
    split by default into as many tasks as the cluster has CPUs. An Executor: that one, split
    into ``workers`` tasks (default: this machine's cores).
    """
    check_executor(executor, workers)
    if isinstance(executor, str) and executor == "local":
        count = resolve_workers(workers)
        return (process_pool(count) if count > 1 else None), count
    if isinstance(executor, str):  # "ray"
        from tds._ray import ray_executor

        cluster = ray_executor()
        count = resolve_workers(min(cluster.cpus, MAX_WORKERS) if workers is None else workers)
        return cluster, count
    assert isinstance(executor, Executor)
    return guarded(executor), resolve_workers(workers)


def check_executor(executor: object, workers: int | None) -> None:
    """ConfigError for an executor choice or worker count :func:`resolve_executor` would refuse,
    without starting a pool or reaching a cluster (for work that may not need either)."""
    named = isinstance(executor, str) and executor in ("local", "ray")
    if not named and not isinstance(executor, Executor):
        raise ConfigError(
            "executor must be 'local', 'ray' or a concurrent.futures.Executor, not "
            f"{executor!r:.60}"
        )
    if executor == "ray":
        from tds._ray import import_ray

        import_ray()  # ConfigError naming tds[ray] where Ray is not installed
    if workers is not None:
        resolve_workers(workers)


_pools: dict[int, Executor] = {}
_pools_lock = threading.Lock()


def process_pool(workers: int) -> Executor:
    """The pool of ``workers`` processes shared by every batch in this process (a fresh one
    if a worker of the last one died).

    Where worker processes cannot start at all, batch work runs in this process
    instead, after one warning: slower, never broken.
    """
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None or getattr(pool, "broken", False):
            pool = _pools[workers] = start_pool(workers)
        return pool


def start_pool(workers: int) -> Executor:
    """A new pool of ``workers`` processes (see :func:`process_pool`)."""
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
            stacklevel=3,
        )
        return InlineExecutor()
    _log.debug("started %d worker processes", workers)
    return guarded(pool)


def relay(done: Future, outer: Future, translate: Callable[[BaseException], BaseException]) -> None:
    """Settle ``outer`` as ``done`` ended: its result, its cancellation, or its exception as
    ``translate`` reports it (so that each executor names a lost worker its own way)."""
    if done.cancelled():
        outer.cancel()
        return
    error = done.exception()
    if error is None:
        outer.set_result(done.result())
    else:
        outer.set_exception(translate(error))


def guarded(executor: Executor) -> Executor:
    """``executor``, its futures raising WorkerError where a worker was lost."""
    return executor if isinstance(executor, _Guarded | InlineExecutor) else _Guarded(executor)


class _Guarded(Executor):
    """An executor whose futures report a lost worker as WorkerError (and mark it broken)."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner
        self.broken = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        outer: Future = Future()
        try:
            inner = self._inner.submit(fn, *args, **kwargs)
        except BrokenExecutor as error:
            outer.set_exception(self._lost(error))
            return outer
        inner.add_done_callback(lambda done: relay(done, outer, self._translate))
        return outer

    def _translate(self, error: BaseException) -> BaseException:
        return self._lost(error) if isinstance(error, BrokenExecutor) else error

    def _lost(self, error: BaseException) -> WorkerError:
        self.broken = True
        return WorkerError(f"a worker process died before it finished its batch ({error})")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


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
