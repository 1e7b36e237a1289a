"""Preloaded into the forkserver that starts tds workers.

A child of ``multiprocessing`` re-runs the parent's ``__main__`` before it takes
work, so that functions defined there can be unpickled. tds workers only run tds
functions, and re-running a script whose code is not under
``if __name__ == "__main__":`` would run the whole script again in every worker
(which then cannot start processes of its own and dies), or fail outright for a
script read from standard input. So in processes forked from this server, a
child named :data:`WORKER_NAME` skips that step; every other child is prepared
exactly as ``multiprocessing`` would.
"""

from __future__ import annotations

from multiprocessing import spawn
from typing import Any

import tds  # noqa: F401  # preloaded: workers start with gmpy2, numpy and OpenSSL imported

WORKER_NAME = "tds-worker"
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


def _prepare_without_main(original: Any) -> Any:
    def prepare(data: dict[str, Any]) -> None:
        if data.get("name") == WORKER_NAME:
            data = {key: value for key, value in data.items() if key not in _MAIN_KEYS}
        original(data)

    prepare.skips_main_for_tds_workers = True
    return prepare


if not getattr(spawn.prepare, "skips_main_for_tds_workers", False):
    spawn.prepare = _prepare_without_main(spawn.prepare)
