"""Progress reports from long batch work, and a ready-made progress bar.

Batch operations in :mod:`tds.he` (``encrypt_many``, ``decrypt_many``, vectors) and the
parties of :mod:`tds.psi` take ``progress=``, a callable that receives a :class:`Progress`
each time a chunk finishes. :func:`progress_bar` makes one that draws a bar in a terminal
or a notebook (with tqdm)::

    import tds
    public_key, private_key = tds.he.generate_keypair()
    ciphertexts = public_key.encrypt_many(range(1000), progress=tds.progress_bar())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Progress", "ProgressCallback", "progress_bar"]


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` items have finished ``stage`` for ``role``.

    Roles and stages: ``left`` / ``right`` for the parties of a secure join (stages in
    ``docs/protocol.md``), ``paillier`` for batch encryption (stage ``encrypt``) and
    decryption (stage ``decrypt``).
    """

    role: str
    stage: str
    done: int
    total: int


ProgressCallback = Callable[[Progress], None]


def progress_bar(**tqdm_options: Any) -> ProgressCallback:
    """A ``progress=`` callback that draws one tqdm bar per (role, stage).

    Options go to ``tqdm.auto.tqdm`` (e.g. ``leave=False``, ``file=sys.stdout``); bars
    close themselves when their stage completes.
    """
    # Imported here: tqdm.auto looks for a notebook, which ``import tds`` need not pay for.
    from tqdm.auto import tqdm

    bars: dict[tuple[str, str], Any] = {}

    def report(progress: Progress) -> None:
        key = (progress.role, progress.stage)
        bar = bars.get(key)
        if bar is None:
            options = {"desc": f"{progress.role}: {progress.stage}", "unit": "item"}
            bar = bars[key] = tqdm(total=progress.total, **(options | tqdm_options))
        bar.update(progress.done - bar.n)
        if progress.done >= progress.total:
            bar.close()
            del bars[key]

    return report
