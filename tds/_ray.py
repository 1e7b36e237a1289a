"""Batch work on a Ray cluster, behind the ``concurrent.futures`` interface (``executor="ray"``).

Ray is an optional dependency (``pip install 'tds[ray]'``), imported only here and only when
asked for. The cluster is the one ``RAY_ADDRESS`` names (``ray start --head`` prints it), or a
local one that Ray starts on this machine; a program that called ``ray.init`` itself keeps its
own. Tasks are the same module-level functions the local pool runs, with the same arguments:
bytes, numpy arrays, integers and the public parameters they need (see docs/scale-out.md for
what that includes). A task whose worker dies is retried once by Ray, then fails its batch
with :class:`~tds.errors.WorkerError`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

from tds._workers import relay
from tds.errors import ConfigError, WorkerError

__all__ = ["RayExecutor", "local_cluster", "ray_executor"]

_log = logging.getLogger("tds.workers")
# Each task runs pure functions of its arguments, so running one again is safe.
_RETRIES = 1


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "executor='ray' needs Ray, an optional dependency: pip install 'tds[ray]'"
        ) from None
    return ray


def _call(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return function(*args, **kwargs)


class RayExecutor(Executor):
    """Submits each call as a Ray task; ``cpus`` is what the cluster offers."""

    def __init__(self) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or None
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
            _log.info("connected to Ray at %s", address or "a new local cluster")
        self._ray = ray
        self._task = ray.remote(max_retries=_RETRIES)(_call)

    @property
    def cpus(self) -> int:
        """The CPUs of the cluster (at least one)."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        outer: Future = Future()
        reference = self._task.remote(fn, args, kwargs)
        reference.future().add_done_callback(lambda done: relay(done, outer, self._translate))
        return outer

    def _translate(self, error: BaseException) -> BaseException:
        if isinstance(error, self._ray.exceptions.RayTaskError):
            # The task itself raised: hand on its own exception, as the local pool does.
            cause = getattr(error, "cause", None)
            return cause if isinstance(cause, Exception) else error
        return WorkerError(f"a Ray worker was lost before it finished its batch ({error})")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to do: the cluster outlives this program's batches."""


@functools.cache
def ray_executor() -> RayExecutor:
    """The one RayExecutor of this process (connecting to, or starting, the cluster once)."""
    return RayExecutor()


@contextlib.contextmanager
def local_cluster(cpus: int) -> Iterator[str]:
    """A Ray head of ``cpus`` CPUs on this machine, for tests and benchmarks: started by
    ``ray start`` in a process of its own, connected to this program, and stopped (with every
    Ray process that ``ray stop`` finds here) on exit. Yields its address.

    Started apart because a process with threads of its own (a test runner's, gRPC's) cannot
    always fork Ray's processes safely: the fork may copy a lock another thread holds.
    """
    ray = import_ray()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]
    options = [
        f"--port={port}",
        f"--num-cpus={cpus}",
        "--node-ip-address=127.0.0.1",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    # A cluster of this machine, for this program only: no token to hand around.
    environment = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    started = subprocess.run(
        [*command, "start", "--head", *options],
        capture_output=True,
        text=True,
        timeout=180,
        env=environment,
    )
    if started.returncode:
        raise RuntimeError(f"ray start failed: {started.stderr[-2000:]}")
    address = f"127.0.0.1:{port}"
    ray_executor.cache_clear()
    try:
        ray.init(address=address, log_to_driver=False)
        yield address
    finally:
        ray.shutdown()
        ray_executor.cache_clear()
        subprocess.run(
            [*command, "stop", "--force"], capture_output=True, timeout=180, env=environment
        )
