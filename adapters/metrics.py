"""What /metrics serves, through prometheus-client, one registry per process (or per app).

A module-level registry would mix the figures of every app a test process
builds, so each ``Metrics`` owns a ``CollectorRegistry``. Counters and
histograms are updated where things happen (an ACK sent, an HTTP request
answered); point-in-time figures (positions, lags, the store's size) are
read when /metrics is scraped, through ``add_figures``. The console's
dashboard reads the same objects (``value``, ``history``), so both show one
truth.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "Figure", "Metrics", "MinuteHistory", "counters"]

# generate_latest writes the text format 0.0.4 (what every Prometheus scrapes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The `_created` series double every counter's lines and nobody charts them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library

INGEST_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# Senders are MSH-3^MSH-4 of what arrives: an unbound sender could invent new ones at will,
# so past this many distinct values the rest are counted as "other" (bounded series).
MAX_SENDERS = 200
HISTORY_MINUTES = 60


@dataclass(frozen=True, slots=True)
class Figure:
    """One point-in-time value read at scrape time (``kind``: gauge or counter)."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    kind: str = "gauge"


FigureSource = Callable[[], Iterable[Figure]]


class _Figures(Collector):
    """Turns ``Figure`` sources into metric families when the registry is collected."""

    def __init__(self) -> None:
        self.sources: list[FigureSource] = []

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for source in self.sources:
            for figure in source():
                family = families.get(figure.name)
                if family is None:
                    labels = sorted(figure.labels)
                    if figure.kind == "counter":
                        family = CounterMetricFamily(figure.name, figure.help, labels=labels)
                    else:
                        family = GaugeMetricFamily(figure.name, figure.help, labels=labels)
                    families[figure.name] = family
                family.add_metric([figure.labels[k] for k in sorted(figure.labels)], figure.value)
        yield from families.values()


class MinuteHistory:
    """Answers per minute by ACK code for the last hour (the dashboard's chart)."""

    def __init__(self, minutes: int = HISTORY_MINUTES, clock: Callable[[], float] = time.time):
        self.minutes = minutes
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: deque[tuple[int, Tally[str]]] = deque()

    def add(self, ack_code: str) -> None:
        minute = int(self.clock() // 60)
        with self._lock:
            if not self._buckets or self._buckets[-1][0] != minute:
                self._buckets.append((minute, Tally()))
                while self._buckets and self._buckets[0][0] <= minute - self.minutes:
                    self._buckets.popleft()
            self._buckets[-1][1][ack_code] += 1

    def series(self) -> tuple[int, dict[str, list[int]]]:
        """(first minute, counts per ACK code for each of the last ``minutes`` minutes)."""
        now = int(self.clock() // 60)
        first = now - self.minutes + 1
        with self._lock:
            buckets = [(m, dict(t)) for m, t in self._buckets if m >= first]
        codes = sorted({code for _, tally in buckets for code in tally})
        out = {code: [0] * self.minutes for code in codes}
        for minute, tally in buckets:
            for code, n in tally.items():
                out[code][minute - first] = n
        return first, out


class Metrics:
    """The figures of one carelog process (or one test app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.messages = Counter(
            "carelog_messages", "HL7 messages answered, by ACK code.", ["ack_code"], registry=r
        )
        self.received = Counter(
            "carelog_messages_received",
            "HL7 messages answered, by sender (MSH-3^MSH-4), message type and ACK code.",
            ["sender", "message_type", "ack_code"],
            registry=r,
        )
        self.duplicates = Counter(
            "carelog_duplicates", "Messages answered as duplicates (MSH-10 seen).", registry=r
        )
        self.ingest = Histogram(
            "carelog_ingest_seconds",
            "Time from frame received to ACK built.",
            buckets=INGEST_BUCKETS_S,
            registry=r,
        )
        self.http_requests = Counter(
            "carelog_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "carelog_http_request_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=HTTP_BUCKETS_S,
            registry=r,
        )
        self.mllp_open = Gauge(
            "carelog_mllp_connections_open", "MLLP connections open now.", registry=r
        )
        self.history = MinuteHistory()
        self._senders: set[str] = set()
        self._figures = _Figures()
        r.register(self._figures)

    def observe(
        self,
        ack_code: str,
        duration_s: float,
        *,
        sender: str = "",
        message_type: str = "",
        duplicate: bool = False,
    ) -> None:
        """Counts one answered message and how long it took."""
        if sender not in self._senders:
            if len(self._senders) >= MAX_SENDERS:
                sender = "other"
            else:
                self._senders.add(sender)
        self.messages.labels(ack_code).inc()
        self.received.labels(sender, message_type, ack_code).inc()
        if duplicate:
            self.duplicates.inc()
        self.ingest.observe(duration_s)
        self.history.add(ack_code)

    def observe_http(self, method: str, route: str, status: int, duration_s: float) -> None:
        """Counts one HTTP answer; ``route`` is the template (never the raw path)."""
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(route).observe(duration_s)

    def add_figures(self, source: FigureSource) -> None:
        """Adds values read at each scrape (positions, lags, sizes)."""
        self._figures.sources.append(source)

    def render(self) -> str:
        """The exposition text (Prometheus text format 0.0.4)."""
        return generate_latest(self.registry).decode()

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """One sample's current value as /metrics would show it (None when absent)."""
        return self.registry.get_sample_value(name, dict(labels or {}))

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Every sample named ``name`` with its labels (e.g. each read model's lag)."""
        out = []
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == name:
                    out.append((dict(sample.labels), float(sample.value)))
        return out


def counters(values: Callable[[], Mapping[str, float]], help_text: str) -> FigureSource:
    """A source of running totals kept elsewhere (``{name_total: value}``), typed counter."""

    def source() -> Iterator[Figure]:
        for name, value in values().items():
            yield Figure(name, help_text, value, kind="counter")

    return source
