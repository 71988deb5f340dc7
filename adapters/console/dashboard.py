"""`/console/dashboard`: the figures /metrics serves, for people (no PHI on it).

Messages per second by ACK code over the last hour (an inline SVG chart drawn
here: no chart library, nothing fetched), each read model's projection lag,
the relay's lag, the store's size and head. Every number is read from the
same ``Metrics`` registry that /metrics renders, at the time of the request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from adapters.console.session import csrf_token, session_cookie_of
from adapters.http.context import principal_of
from adapters.metrics import Metrics

__all__ = ["Chart", "chart_of", "dashboard_router"]

_HERE = Path(__file__).parent
WIDTH, HEIGHT, PAD = 720, 240, 40
# Dark, distinct strokes (each line is also named in the legend and the table).
COLOURS = {"AA": "#1b5e20", "AE": "#b45309", "AR": "#b71c1c", "CA": "#0d47a1", "CE": "#6a1b9a"}


@dataclass(frozen=True)
class Line:
    code: str
    colour: str
    points: str
    total: int
    peak: float


@dataclass(frozen=True)
class Chart:
    """The chart's lines (SVG polyline points), its scale and its time span."""

    lines: list[Line]
    peak: float
    first: str
    last: str


def chart_of(metrics: Metrics) -> Chart:
    """Messages per second in each minute of the last hour, one line per ACK code."""
    first, series = metrics.history.series()
    minutes = metrics.history.minutes
    rates = {code: [n / 60 for n in counts] for code, counts in series.items()}
    peak = max((max(r) for r in rates.values()), default=0.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(1, minutes - 1)
    lines = []
    for code, values in sorted(rates.items()):
        points = " ".join(
            f"{PAD + i * step:.1f},{HEIGHT - PAD - v / peak * (HEIGHT - 2 * PAD):.1f}"
            for i, v in enumerate(values)
        )
        lines.append(
            Line(code, COLOURS.get(code, "#37474f"), points, sum(series[code]), max(values))
        )
    return Chart(lines, peak, _hhmm(first * 60), _hhmm((first + minutes - 1) * 60))


def _hhmm(epoch: float) -> str:
    return time.strftime("%H:%M", time.gmtime(epoch))


def _figures(metrics: Metrics) -> dict[str, Any]:
    def one(name: str) -> float | None:
        return metrics.value(name)

    return {
        "lags": sorted(
            (labels["read_model"], int(value))
            for labels, value in metrics.samples("carelog_projection_lag_events")
        ),
        "relay_lag": one("carelog_relay_lag_events"),
        "relay_p99": one("carelog_relay_lag_p99_seconds"),
        "store_bytes": one("carelog_store_bytes"),
        "head": one("carelog_store_head_position"),
        "open": one("carelog_mllp_connections_open"),
        "answered": sorted(
            (labels["ack_code"], int(value))
            for labels, value in metrics.samples("carelog_messages_total")
        ),
    }


def dashboard_router(metrics: Metrics) -> APIRouter:
    """The dashboard page over ``metrics`` (policy row in adapters/security/policy.py)."""
    router = APIRouter(prefix="/console")
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )
    env.filters["size"] = _size

    @router.get("/dashboard")
    def dashboard(request: Request) -> HTMLResponse:
        session = session_cookie_of(request.scope)
        principal = principal_of(request)
        html = env.get_template("dashboard.html").render(
            csrf=csrf_token(session) if session else "",
            who=principal.subject if principal else "",
            chart=chart_of(metrics),
            figures=_figures(metrics),
            width=WIDTH,
            height=HEIGHT,
            pad=PAD,
        )
        return HTMLResponse(html)

    return router


def _size(value: float | None) -> str:
    """Bytes as people read them (the exact number is in /metrics)."""
    if value is None:
        return "unknown"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
