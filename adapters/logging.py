"""structlog set-up, done once by the CLI: JSON lines in production, console when asked.

A redaction processor is the backstop against PHI: keys that could carry a
name, an identifier or message text are dropped from every log line, whatever
the code that logged them meant to do.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["configure_logging"]

# Keys that may hold patient data; the message's own control id and type are fine.
_PHI_KEYS = frozenset(
    {
        "name",
        "family",
        "given",
        "birth_date",
        "dob",
        "mrn",
        "identifier",
        "identifiers",
        "raw",
        "message",
        "segment",
        "address",
        "phone",
        "ssn",
        "value",
    }
)


def _redact_phi(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in _PHI_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(log_format: str = "json", level: str = "info") -> None:
    """Routes structlog (and the stdlib loggers of uvicorn and friends) to stderr."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_phi,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(message)s"
    )
