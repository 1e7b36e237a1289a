"""Replies remembered by message id, so that a replayed message changes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from tds.connector._store import Store
from tds.errors import DecodeError

__all__ = ["ReplyLog", "check_message_id", "new_message_id"]


def new_message_id() -> str:
    """A fresh message id (a random UUID)."""
    return str(uuid.uuid4())


def check_message_id(value: str) -> str:
    """``value`` if it is a UUID in canonical form; DecodeError otherwise."""
    try:
        canonical = str(uuid.UUID(value))
    except (ValueError, TypeError):
        canonical = None
    if canonical != value:
        raise DecodeError(f"message id {value!r} is not a UUID in canonical form")
    return value


class ReplyLog:
    """The replies a node gave to state-changing messages, by sender, method and message id.

    :meth:`once` runs a handler and stores its reply in the same transaction as the handler's
    own changes; a message seen before gets the stored reply and runs nothing. A handler that
    fails stores nothing, so a retried message is handled again.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def once(self, peer: str, method: str, message_id: str, handle: Callable[[], bytes]) -> bytes:
        check_message_id(message_id)
        with self._store.transaction() as connection:
            row = connection.execute(
                "SELECT reply FROM replies WHERE peer = ? AND method = ? AND message_id = ?",
                (peer, method, message_id),
            ).fetchone()
            if row is not None:
                return bytes(row[0])
            reply = handle()
            connection.execute(
                "INSERT INTO replies (peer, method, message_id, reply, created_at_us) "
                "VALUES (?, ?, ?, ?, ?)",
                (peer, method, message_id, reply, time.time_ns() // 1000),
            )
            return reply
