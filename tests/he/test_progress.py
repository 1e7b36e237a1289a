"""Batch work reports its progress as chunks finish, and logs its batches without secrets."""

import io
import logging
from collections.abc import Callable

import numpy as np
import pytest

import tds
from tds.errors import ConfigError
from tds.he import _pool
from tds.progress import Progress

POOLED = _pool.MIN_PARALLEL_ITEMS + 44


class Recorder:
    def __init__(self) -> None:
        self.reports: list[Progress] = []

    def __call__(self, progress: Progress) -> None:
        self.reports.append(progress)

    def check(self, stage: str, total: int, role: str) -> None:
        assert self.reports, "no progress was reported"
        assert {(p.role, p.stage, p.total) for p in self.reports} == {(role, stage, total)}
        done = [p.done for p in self.reports]
        assert done == sorted(done) and all(0 <= d <= total for d in done)
        assert done[-1] == total


def batch_calls(keypair) -> dict[str, tuple[str, Callable]]:
    """name -> (stage, call(count, workers, progress) returning the item count it worked on)."""
    public, private = keypair

    def vector(count: int, workers: int, progress) -> int:
        encrypted = public.encrypt_vector(
            np.arange(count * 60), bound=2**20, max_additions=2, workers=workers, progress=progress
        )
        return len(encrypted.ciphertexts)

    def decrypt_vector(count: int, workers: int, progress) -> int:
        encrypted = public.encrypt_vector(
            np.arange(count * 60), bound=2**20, max_additions=2, workers=workers
        )
        private.decrypt_vector(encrypted, workers=workers, progress=progress)
        return len(encrypted.ciphertexts)

    def decrypt_many(count: int, workers: int, progress) -> int:
        ciphertexts = private.encrypt_many(range(count), workers=workers)
        assert private.decrypt_many(ciphertexts, workers=workers, progress=progress) == list(
            range(count)
        )
        return count

    def raw_decrypt_many(count: int, workers: int, progress) -> int:
        raw = [c.value for c in private.encrypt_many(range(count), workers=workers)]
        private.raw_decrypt_many(raw, workers=workers, progress=progress)
        return count

    def run(method: Callable) -> Callable:
        def call(count: int, workers: int, progress) -> int:
            method(range(count), workers=workers, progress=progress)
            return count

        return call

    return {
        "PublicKey.encrypt_many": ("encrypt", run(public.encrypt_many)),
        "PublicKey.raw_encrypt_many": (
            "encrypt",
            lambda count, workers, progress: len(
                public.raw_encrypt_many(list(range(count)), workers=workers, progress=progress)
            ),
        ),
        "PrivateKey.encrypt_many": ("encrypt", run(private.encrypt_many)),
        "PublicKey.encrypt_vector": ("encrypt", vector),
        "PrivateKey.decrypt_many": ("decrypt", decrypt_many),
        "PrivateKey.raw_decrypt_many": ("decrypt", raw_decrypt_many),
        "PrivateKey.decrypt_vector": ("decrypt", decrypt_vector),
    }


NAMES = [
    "PublicKey.encrypt_many",
    "PublicKey.raw_encrypt_many",
    "PrivateKey.encrypt_many",
    "PublicKey.encrypt_vector",
    "PrivateKey.decrypt_many",
    "PrivateKey.raw_decrypt_many",
    "PrivateKey.decrypt_vector",
]


@pytest.mark.parametrize("name", NAMES)
def test_in_process_batches_report_in_steps(keypair, name: str) -> None:
    stage, call = batch_calls(keypair)[name]
    recorder = Recorder()
    total = call(20, 1, recorder)
    recorder.check(stage, total, keypair[0].scheme)
    assert len(recorder.reports) > 1 or total == 1


@pytest.mark.parametrize("name", NAMES)
def test_pooled_batches_report_as_chunks_finish(keypair, name: str) -> None:
    stage, call = batch_calls(keypair)[name]
    recorder = Recorder()
    total = call(POOLED, 2, recorder)
    assert total >= _pool.MIN_PARALLEL_ITEMS
    recorder.check(stage, total, keypair[0].scheme)
    assert len(recorder.reports) > 2


def test_an_empty_batch_reports_that_it_is_done(keypair) -> None:
    public, private = keypair
    for call, stage in ((public.encrypt_many, "encrypt"), (private.decrypt_many, "decrypt")):
        recorder = Recorder()
        assert call([], progress=recorder) == []
        assert recorder.reports == [Progress(public.scheme, stage, 0, 0)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("progress", [5, "bar", True, object()])
def test_a_progress_that_cannot_be_called_is_refused(keypair, name: str, progress) -> None:
    _, call = batch_calls(keypair)[name]
    with pytest.raises(ConfigError, match="progress must be callable"):
        call(3, 1, progress)


def test_progress_is_checked_before_the_work_starts(keypair) -> None:
    public, _ = keypair
    with pytest.raises(ConfigError, match="progress"):
        public.encrypt_many([1.5], progress=5)


def test_the_progress_bar_follows_a_batch(keypair) -> None:
    public, private = keypair
    output = io.StringIO()
    ciphertexts = public.encrypt_many(range(30), progress=tds.progress_bar(file=output))
    assert private.decrypt_many(ciphertexts) == list(range(30))
    assert f"{public.scheme}: encrypt" in output.getvalue() and "30/30" in output.getvalue()


def test_batches_are_logged_without_key_material(keypair, caplog) -> None:
    public, private = keypair
    values = list(range(1000, 1000 + POOLED))
    with caplog.at_level(logging.DEBUG, logger="tds.he"):
        private.decrypt_many(public.encrypt_many(values, workers=2), workers=2)
        public.encrypt_many(values[:3], workers=1)
    records = [r for r in caplog.records if r.name == "tds.he"]
    text = "\n".join(r.getMessage() for r in records)
    assert "encrypt" in text and "decrypt" in text
    assert f"{POOLED} items in" in text and "on 2 workers" in text
    assert "3 items in this process" in text
    assert all(r.levelno == logging.DEBUG for r in records)
    bases = [public.h_s] if public.scheme == "paillier" else [public.big_g, public.big_h]
    secrets = [public.n, private.p, private.q, *bases, *values]
    for secret in secrets:
        assert str(int(secret)) not in text and format(int(secret), "x") not in text
