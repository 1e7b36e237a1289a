"""The parties log their phase changes to "tds.psi" at debug level: job, mode and sizes only."""

from __future__ import annotations

import logging

import pytest

import tds
from tds.psi import LeftParty, Mode, RightParty
from tds.psi._local import exchange

SECRET_ITEMS = ["secret-alice", "secret-bob", "secret-carol"]


@pytest.mark.parametrize("mode", list(Mode))
def test_phase_changes_are_logged_without_secrets(
    mode: Mode, sum_key: tds.he.PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    in_sum = mode is Mode.SUM
    left = LeftParty(SECRET_ITEMS, job_id="job-log", mode=mode, chunk_size=2, insecure=True)
    right = RightParty(
        [*SECRET_ITEMS[1:], "secret-dave"],
        job_id="job-log",
        mode=mode,
        chunk_size=2,
        values=[1234567, 7654321, 5555555] if in_sum else None,
        sum_key=sum_key if in_sum else None,
        insecure=True,
    )
    with caplog.at_level(logging.DEBUG, logger="tds.psi"):
        exchange(left, right)
    records = [r for r in caplog.records if r.name == "tds.psi"]
    assert records and all(r.levelno == logging.DEBUG for r in records)
    lines = [r.getMessage() for r in records]
    for role in ("left", "right"):
        mine = [line for line in lines if line.startswith(f"{role} party of job 'job-log'")]
        assert all(f"({mode.value})" in line for line in mine)
        assert "3 own keys" in mine[0]
        learns_size = role == "left" or mode in (Mode.BOTH, Mode.SUM)
        ending = "done; 3 own keys, 3 peer keys" + (", 2 shared" if learns_size else "")
        assert mine[-1].endswith(ending)
    text = "\n".join(lines)
    secrets = [*SECRET_ITEMS, "secret-dave", left._scalar.hex(), right._scalar.hex()]
    secrets += [repr(left._scalar), repr(right._scalar)]
    if in_sum:
        secrets += [str(sum_key.public_key.n), "1234567", "7654321", "5555555", "8888888"]
    assert not [secret for secret in secrets if secret in text]


def test_the_library_configures_no_handler() -> None:
    logger = logging.getLogger("tds.psi")
    assert logger.handlers == [] and logger.propagate
