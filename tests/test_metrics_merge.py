"""Metrics of other processes merged into /metrics: one family per name, a label per source."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from telemetry.metrics import Metrics


def snapshot(written: int, worker: str) -> list[Metric]:
    """What a worker's snapshot parses to, labelled with its worker."""
    other = Metrics()
    other.written.labels("water_depth").inc(written)
    out = []
    for fam in text_string_to_metric_families(other.render().decode()):
        merged = Metric(fam.name, fam.documentation, fam.type)
        for s in fam.samples:
            merged.add_sample(s.name, {**s.labels, "worker": worker}, s.value, s.timestamp)
        out.append(merged)
    return out


def test_worker_samples_join_the_parents_families() -> None:
    parent = Metrics()
    parent.written.labels("flood_alert").inc(2)
    parent.merge(lambda: snapshot(7, "0") + snapshot(5, "1"))
    text = parent.render().decode()
    assert text.count("# TYPE telemetry_written_total counter") == 1  # one family, not three
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "telemetry_written"]
    totals = {
        (s.labels["measurement"], s.labels.get("worker")): s.value
        for s in family.samples
        if s.name == "telemetry_written_total"
    }
    assert totals == {("flood_alert", None): 2, ("water_depth", "0"): 7, ("water_depth", "1"): 5}
