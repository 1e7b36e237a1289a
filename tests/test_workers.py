"""The shared process pool: first scripts without a main guard, and the fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from tds import _workers

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
        executor = _workers.process_pool.__wrapped__(2)
    assert isinstance(executor, _workers.InlineExecutor)
    assert executor.submit(os.getpid).result() == os.getpid()
    with pytest.raises(ZeroDivisionError):
        executor.submit(divmod, 1, 0).result()


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2", 257, 2**31])
def test_workers_must_be_a_small_positive_integer(workers: object) -> None:
    with pytest.raises(_workers.ConfigError):
        _workers.resolve_workers(workers)  # type: ignore[arg-type]
