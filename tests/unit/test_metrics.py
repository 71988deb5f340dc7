"""/metrics through prometheus-client: cumulative buckets, per-app registries, bounded labels."""

from __future__ import annotations

from adapters.metrics import MAX_SENDERS, Figure, Metrics, MinuteHistory, counters


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
        metrics.observe(code, ms / 1000, sender="LAB^HOSP", message_type="ORU^R01")
    metrics.add_figures(lambda: [Figure("carelog_projection_position", "p", 7)])
    values = _values(metrics.render())
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
    by_sender = (
        'carelog_messages_received_total{ack_code="AA",message_type="ORU^R01",sender="LAB^HOSP"}'
    )
    assert values[by_sender] == 4
    assert values["carelog_projection_position"] == 7


def test_counters_kept_elsewhere_are_typed_as_counters() -> None:
    metrics = Metrics()
    metrics.add_figures(counters(lambda: {"carelog_writer_commits_total": 3}, "commits"))
    text = metrics.render()
    assert "# TYPE carelog_writer_commits_total counter\ncarelog_writer_commits_total 3" in text
    assert "# TYPE carelog_messages_total counter" in text
    assert "_created" not in text  # no creation-time series doubling every counter


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.observe("AA", 0.01)
    assert first.value("carelog_messages_total", {"ack_code": "AA"}) == 1
    assert second.value("carelog_messages_total", {"ack_code": "AA"}) is None


def test_senders_past_the_cap_are_counted_as_other() -> None:
    metrics = Metrics()
    for i in range(MAX_SENDERS + 5):
        metrics.observe("AA", 0.001, sender=f"APP{i}^FAC", message_type="ADT^A01")
    senders = {labels["sender"] for labels, _ in metrics.samples("carelog_messages_received_total")}
    assert len(senders) == MAX_SENDERS + 1 and "other" in senders


def test_duplicates_and_http_requests_are_counted() -> None:
    metrics = Metrics()
    metrics.observe("AA", 0.001, duplicate=True)
    metrics.observe("AA", 0.001)
    metrics.observe_http("GET", "/fhir/Patient/{patient_id}", 404, 0.002)
    assert metrics.value("carelog_duplicates_total") == 1
    labels = {"method": "GET", "route": "/fhir/Patient/{patient_id}", "status": "404"}
    assert metrics.value("carelog_http_requests_total", labels) == 1


def test_the_minute_history_keeps_the_last_hour_by_ack_code() -> None:
    now = [3600.0 * 10]
    history = MinuteHistory(minutes=60, clock=lambda: now[0])
    history.add("AA")
    history.add("AA")
    now[0] += 60 * 5
    history.add("AE")
    first, series = history.series()
    assert first == int(now[0] // 60) - 59
    assert series["AA"][-6] == 2 and series["AE"][-1] == 1 and sum(series["AA"]) == 2
    now[0] += 60 * 60  # an hour later nothing of it is left
    assert history.series()[1] == {}
