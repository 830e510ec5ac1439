"""Logging set-up for the command line, plus a rate limiter for repeated warnings.

Library modules log through ``logging.getLogger(__name__)`` and never configure handlers; the CLI
and the flows call :func:`setup_logging` once. Ids (subject, study, file) go into the message text
so that plain-text logs stay searchable, and into ``extra`` fields for JSON logs.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter

_ID_FIELDS = ("subject_id", "study_id", "clip_id", "file", "run_id", "stage")


class JsonLineFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message and any id fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _ID_FIELDS:
            if hasattr(record, field):
                payload[field] = getattr(record, field)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def setup_logging(level: int = logging.INFO, json_lines: bool = False) -> None:
    """Send records of the ``echoground``, ``echovlm`` and ``flows`` loggers to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    for name in ("echoground", "echovlm", "flows"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


class RateLimitedLogger:
    """Log the first ``limit`` messages of each kind, then count the rest and report the count once.

    Bad samples in a large batch repeat the same warning thousands of times. This logger keeps the
    first few with their ids and a total, so nothing is hidden and the log stays readable.
    """

    def __init__(self, logger: logging.Logger, limit: int = 10) -> None:
        self.logger = logger
        self.limit = limit
        self.counts: Counter[str] = Counter()

    def warning(self, kind: str, message: str, *args: object) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= self.limit:
            self.logger.warning(message, *args)
        elif self.counts[kind] == self.limit + 1:
            self.logger.warning("further '%s' warnings are counted, not logged", kind)

    def summary(self) -> dict[str, int]:
        """Return the number of warnings seen per kind, logged or not."""
        return dict(self.counts)


# Errors that a user's input causes (missing files, bad values, unreadable tables, unusable devices).
# The command line prints their message instead of a traceback; --log-level DEBUG shows the traceback.
USER_INPUT_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, RuntimeError)


def user_error_message(error: BaseException) -> str:
    """Return the one-line message the command line prints for a user input error."""
    return f"{type(error).__name__}: {error} (run with --log-level DEBUG for the traceback)"
