"""/metrics: the ingest histogram's buckets are cumulative, as Prometheus reads them."""

from __future__ import annotations

from adapters.metrics import Metrics


def _values(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_histogram_buckets_count_every_observation_at_or_below_their_bound() -> None:
    metrics = Metrics()
    for code, ms in [("AA", 0.4), ("AA", 1.0), ("AA", 3.0), ("AE", 30.0), ("AA", 9000.0)]:
        metrics.observe(code, ms)
    values = _values(metrics.render({"carelog_projection_position": 7}))
    bucket = 'carelog_ingest_seconds_bucket{{le="{}"}}'.format
    assert values[bucket(0.001)] == 2  # 0.4 ms and exactly 1 ms
    assert values[bucket(0.002)] == 2
    assert values[bucket(0.005)] == 3
    assert values[bucket(0.025)] == 3
    assert values[bucket(0.05)] == 4
    assert values[bucket(5.0)] == 4
    assert values[bucket("+Inf")] == 5
    assert values["carelog_ingest_seconds_count"] == 5
    assert abs(values["carelog_ingest_seconds_sum"] - 9.0344) < 1e-9
    assert values['carelog_messages_total{ack_code="AA"}'] == 4
    assert values['carelog_messages_total{ack_code="AE"}'] == 1
    assert values["carelog_projection_position"] == 7


def test_counters_kept_elsewhere_are_typed_as_counters() -> None:
    text = Metrics().render({"carelog_projection_position": 1}, {"carelog_writer_commits_total": 3})
    assert "# TYPE carelog_writer_commits_total counter\ncarelog_writer_commits_total 3" in text
    assert "# TYPE carelog_projection_position gauge" in text
