"""structlog set-up, done once by the CLI: JSON lines in production, console when asked.

A redaction processor is the backstop against PHI: keys that could carry a
name, an identifier or message text are dropped from every log line, whatever
the code that logged them meant to do.

Lines logged on a thread running an asyncio loop (the MLLP listener logs one
per message) are written together once per turn of that loop: one write for
all the ACKs of a commit instead of one each. A write is a system call, and
every system call lets the writer or projection thread take the GIL, which
the loop then waits up to a switch interval (5 ms) to get back. Lines from
other threads are written at once, after any the loop still holds, so order
is kept; whatever is pending at exit is written then.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO

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


def _redact_phi(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _PHI_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


class _LineSink:
    """One stream's log lines; from an event loop's thread, written once per loop turn."""

    _MAX_PENDING = 512  # lines; a longer turn writes as it goes

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._pending: list[str] = []
        atexit.register(self.flush)

    def add(self, line: str) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._pending.append(line)
            if loop is None or len(self._pending) >= self._MAX_PENDING:
                self._write_pending()
            elif len(self._pending) == 1:
                loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._lock:
            self._write_pending()

    def _write_pending(self) -> None:
        if self._pending:
            text = "\n".join(self._pending) + "\n"
            self._pending.clear()
            self._stream.write(text)
            self._stream.flush()


class _SinkLogger:
    """The structlog logger at the end of the chain: rendered lines go to a ``_LineSink``."""

    def __init__(self, sink: _LineSink) -> None:
        self._sink = sink

    def msg(self, message: str) -> None:
        self._sink.add(message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


CACHE_LOGGERS = True
"""structlog's per-logger cache (a logger is bound to the configuration of its first use).

The test suite turns it off: a command run in-process configures logging, and a
module logger first used then would keep that configuration for every later
test, out of ``capture_logs``' reach."""


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
        logger_factory=_sink_factory(_LineSink(sys.stderr)),
        cache_logger_on_first_use=CACHE_LOGGERS,
    )
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(message)s"
    )


def tool_log_level(configured: str, *, verbose: bool, level_set: bool) -> str:
    """The level of a command-line tool (send, validate, history, replay, verify).

    A tool prints its results for a person to read; JSON log lines on the same
    terminal (``projection.stopped`` after ``history``) only get in the way. So a
    tool logs warnings and errors only, unless ``--verbose`` or an explicit
    ``CARELOG_LOG_LEVEL`` asks for more. ``serve`` and ``worker`` are services
    and log at the configured level, as ever.
    """
    if level_set:
        return configured
    return "info" if verbose else "warning"


def _sink_factory(sink: _LineSink) -> Any:
    logger = _SinkLogger(sink)

    def factory(*_: Any) -> _SinkLogger:
        return logger

    return factory
