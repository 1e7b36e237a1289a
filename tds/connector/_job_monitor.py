"""The policy monitor: a provider stops the jobs whose agreement no longer permits them.

An agreement can stop permitting a job while it waits or runs: it expires (``elapsedTime``,
``dateTime``), its uses or budget run out through other jobs, or its dataset is withdrawn.
The monitor checks every job of the node that has not ended, once per period, and ends those
FAILED with the reason; a running job's exchange notices at its next message and stops.
New jobs are refused with the reason when they are asked for. The monitor also deletes the
results this node received as a requester once their agreement's ``delete`` duty falls due.
"""

from __future__ import annotations

import logging
import threading

from tds.connector._job_provider import JobProvider
from tds.connector._jobs import JobRole, JobState
from tds.errors import TdsError

__all__ = ["DEFAULT_PERIOD_SECONDS", "PolicyMonitor"]

DEFAULT_PERIOD_SECONDS = 1.0
_WATCHED = (JobState.PENDING, JobState.AWAITING_APPROVAL, JobState.RUNNING)
_log = logging.getLogger("tds.connector.jobs")


class PolicyMonitor:
    """Rechecks ``provider``'s unfinished jobs every ``period`` seconds in a thread."""

    def __init__(self, provider: JobProvider, period: float = DEFAULT_PERIOD_SECONDS) -> None:
        self._provider = provider
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tds-policy-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def check_once(self) -> int:
        """Recheck every unfinished job once, and delete the results whose agreement asked
        for it by now; how many jobs were stopped."""
        self._provider.jobs.purge_expired()
        stopped = 0
        for state in _WATCHED:
            for job in self._provider.jobs.jobs(role=JobRole.PROVIDER, state=state):
                if self._provider.recheck(job).state is JobState.FAILED:
                    stopped += 1
        return stopped

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self.check_once()
            except TdsError as error:
                # A busy or closing database: the next period tries again.
                _log.warning("the policy monitor could not check the jobs: %s", error)
