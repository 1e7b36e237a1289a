"""Structured logs for the daemon: readable text, or one JSON object per line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import TextIO

__all__ = ["LOG_FORMATS", "configure_logging"]

LOG_FORMATS = ("text", "json")
# Fields the connector attaches to its records with ``extra=``; they become JSON keys.
_FIELDS = ("node", "port", "rpc", "peer", "status", "ms", "negotiation", "dataset", "state")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message and the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            if hasattr(record, name):
                document[name] = getattr(record, name)
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def configure_logging(
    format: str = "text", level: str = "info", stream: TextIO | None = None
) -> None:
    """Send the ``tds`` loggers to ``stream`` (default stderr) in ``format``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if format == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logger = logging.getLogger("tds")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
