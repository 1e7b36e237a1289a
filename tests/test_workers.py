"""Executors: the shared process pool (first scripts without a main guard, the fallback),
executors of the caller's, the choice of one, and workers that die."""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
import sys
import textwrap
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

import tds
from tds import _ray, _workers
from tds.errors import WorkerError
from tds.he import _pool
from tests.dying_pool import DyingPool

# A newcomer's first script: no main guard, batches large enough for the pool.
FIRST_SCRIPT = textwrap.dedent(
    """
    import os
    import tds
    from tds._workers import process_pool
    print("start")
    pids = {process_pool(2).submit(os.getpid).result() for _ in range(8)}
    print("in workers:", os.getpid() not in pids)
    result = tds.psi.run_local(["a", "b"], ["b", "c"], workers=2)
    print("shared:", result.items)
    public_key, private_key = tds.he.generate_keypair()
    print("sum:", private_key.decrypt(sum(public_key.encrypt_many(range(300), workers=2))))
    """
)
EXPECTED = ["start", "in workers: True", "shared: ('b',)", "sum: 44850"]


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def test_a_script_without_main_guard_runs_once_on_the_pool(tmp_path: Path) -> None:
    script = tmp_path / "first.py"
    script.write_text(FIRST_SCRIPT)
    done = _run([str(script)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == EXPECTED
    assert "Warning" not in done.stderr


def test_a_script_piped_to_python_runs_on_the_pool(tmp_path: Path) -> None:
    done = _run(["-"], input=FIRST_SCRIPT, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == EXPECTED


def test_the_callers_own_forkserver_processes_still_see_main(tmp_path: Path) -> None:
    script = tmp_path / "own_pool.py"
    script.write_text(
        textwrap.dedent(
            """
            import multiprocessing
            import tds

            def square(x):
                return x * x

            if __name__ == "__main__":
                public_key, private_key = tds.he.generate_keypair()
                public_key.encrypt_many(range(300), workers=2)
                with multiprocessing.get_context("forkserver").Pool(2) as pool:
                    print(sum(pool.map(square, range(10))))
            """
        )
    )
    done = _run([str(script)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["285"]


def test_workers_that_cannot_start_fall_back_to_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class BrokenPool:
        def __init__(self, **_: object) -> None:
            pass

        def submit(self, *_: object) -> None:
            raise BrokenProcessPool("a worker died at start")

        def shutdown(self, **_: object) -> None:
            pass

    monkeypatch.setattr(_workers, "ProcessPoolExecutor", BrokenPool)
    with pytest.warns(RuntimeWarning, match="runs in this process"):
        executor = _workers.start_pool(2)
    assert isinstance(executor, _workers.InlineExecutor)
    assert executor.submit(os.getpid).result() == os.getpid()
    with pytest.raises(ZeroDivisionError):
        executor.submit(divmod, 1, 0).result()


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2", 257, 2**31])
def test_workers_must_be_a_small_positive_integer(workers: object) -> None:
    with pytest.raises(_workers.ConfigError):
        _workers.resolve_workers(workers)  # type: ignore[arg-type]


def test_local_is_this_process_for_one_worker_and_the_shared_pool_for_more() -> None:
    assert _workers.resolve_executor("local", 1) == (None, 1)
    pool, count = _workers.resolve_executor("local", 2)
    assert pool is _workers.process_pool(2) and count == 2
    assert pool.submit(os.getpid).result() != os.getpid()


def test_an_executor_of_the_callers_runs_the_batches() -> None:
    with ThreadPoolExecutor(2) as threads:
        pool, count = _workers.resolve_executor(threads, 3)
        assert count == 3
        assert pool.submit(os.getpid).result() == os.getpid()
        left, right = [f"k{i}" for i in range(300)], [f"k{i}" for i in range(150, 500)]
        for protocol in ("ecdh", "oprf"):
            result = tds.psi.run_local(left, right, executor=threads, protocol=protocol)
            assert set(result.items) == set(left) & set(right)


@pytest.mark.parametrize("executor", ["threads", "", None, 3, object()])
def test_executor_must_be_local_ray_or_an_executor(executor: object) -> None:
    with pytest.raises(_workers.ConfigError, match="executor must be 'local', 'ray' or"):
        _workers.resolve_executor(executor)  # type: ignore[arg-type]


def test_ray_without_the_extra_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    _ray.ray_executor.cache_clear()
    try:
        with pytest.raises(_workers.ConfigError, match=r"pip install 'tds\[ray\]'"):
            tds.psi.run_local(["a"], ["a"], executor="ray")
    finally:
        _ray.ray_executor.cache_clear()


def test_a_worker_that_dies_fails_its_batch_and_the_next_pool_is_fresh() -> None:
    pool = _workers.process_pool(2)
    with pytest.raises(WorkerError, match="died before it finished"):
        pool.submit(os._exit, 1).result()
    fresh = _workers.process_pool(2)
    assert fresh is not pool
    assert fresh.submit(abs, -3).result() == 3


@pytest.mark.parametrize("protocol", ["ecdh", "oprf"])
def test_a_worker_killed_mid_join_fails_the_join_with_worker_error(protocol: str) -> None:
    dying = DyingPool(_workers.start_pool(2))
    left, right = [f"k{i}" for i in range(5000)], [f"k{i}" for i in range(2500, 7500)]
    with pytest.raises(WorkerError):
        tds.psi.run_local(left, right, executor=dying, workers=2, protocol=protocol)
    assert dying.submitted >= 3
    result = tds.psi.run_local(left, right, workers=2, protocol=protocol)
    assert set(result.items) == set(left) & set(right)


def test_a_worker_killed_mid_encryption_fails_it_with_worker_error() -> None:
    public_key, private_key = tds.he.generate_keypair(1024, insecure=True)
    with pytest.raises(WorkerError):
        public_key.encrypt_many(range(400), executor=DyingPool(_workers.start_pool(2)), workers=2)
    assert private_key.decrypt_many(public_key.encrypt_many(range(400), workers=2)) == list(
        range(400)
    )


class _Recording(Executor):
    """Runs each task here, and keeps what it was given."""

    def __init__(self) -> None:
        self.tasks: list[tuple[object, tuple[object, ...]]] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[no-untyped-def]
        self.tasks.append((fn, args))
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_a_private_key_never_reaches_an_executor_but_the_local_pool() -> None:
    public_key, private_key = tds.he.generate_keypair(1024, insecure=True)
    recording = _Recording()
    ciphertexts = private_key.encrypt_many(range(600), executor=recording, workers=2)
    assert private_key.decrypt_many(ciphertexts) == list(range(600))
    assert recording.tasks
    for task, _ in recording.tasks:
        assert isinstance(task, functools.partial)
        assert task.func is _pool.encrypt_chunk and task.args[0] == public_key.to_bytes()
    for method in (private_key.decrypt_many, private_key.decrypt_vector):
        assert "executor" not in inspect.signature(method).parameters
