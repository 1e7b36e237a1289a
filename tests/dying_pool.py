"""An executor for tests of worker failures: a real one, except that one task kills the
worker that runs it instead of running."""

from __future__ import annotations

import os
from concurrent.futures import Executor, Future
from typing import Any


class DyingPool(Executor):
    """``inner``, but its ``fatal``-th task (counting from 1) kills its worker."""

    def __init__(self, inner: Executor, fatal: int = 3) -> None:
        self.inner = inner
        self.fatal = fatal
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        self.submitted += 1
        if self.submitted == self.fatal:
            return self.inner.submit(os._exit, 1)
        return self.inner.submit(fn, *args, **kwargs)
