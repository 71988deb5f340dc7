"""Counters for /metrics in the Prometheus text format; no client library needed for so few."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Mapping

__all__ = ["Metrics"]

_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000)


class Metrics:
    """Message counts by ACK code and an ingest latency histogram."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._acks: Counter[str] = Counter()
        self._buckets = [0] * len(_BUCKETS_MS)  # per bucket, not yet cumulative
        self._count = 0
        self._sum_ms = 0.0

    def observe(self, ack_code: str, duration_ms: float) -> None:
        """Counts one answered message and how long it took."""
        with self._lock:
            self._acks[ack_code] += 1
            self._count += 1
            self._sum_ms += duration_ms
            i = bisect.bisect_left(_BUCKETS_MS, duration_ms)  # the first bound >= duration
            if i < len(_BUCKETS_MS):
                self._buckets[i] += 1

    def render(
        self,
        gauges: Mapping[str, float] | None = None,
        counters: Mapping[str, float] | None = None,
    ) -> str:
        """The exposition text; ``gauges`` adds point-in-time values (positions), ``counters``
        running totals kept elsewhere (the writer's commits)."""
        with self._lock:
            lines = [
                "# HELP carelog_messages_total HL7 messages answered, by ACK code.",
                "# TYPE carelog_messages_total counter",
            ]
            for code in sorted(self._acks):
                lines.append(f'carelog_messages_total{{ack_code="{code}"}} {self._acks[code]}')
            lines += [
                "# HELP carelog_ingest_seconds Time from frame received to ACK built.",
                "# TYPE carelog_ingest_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip(_BUCKETS_MS, self._buckets, strict=True):
                cumulative += count
                lines.append(f'carelog_ingest_seconds_bucket{{le="{bound / 1000}"}} {cumulative}')
            lines.append(f'carelog_ingest_seconds_bucket{{le="+Inf"}} {self._count}')
            lines.append(f"carelog_ingest_seconds_sum {self._sum_ms / 1000}")
            lines.append(f"carelog_ingest_seconds_count {self._count}")
        for name, value in (gauges or {}).items():
            lines += [f"# TYPE {name} gauge", f"{name} {value}"]
        for name, value in (counters or {}).items():
            lines += [f"# TYPE {name} counter", f"{name} {value}"]
        return "\n".join(lines) + "\n"
