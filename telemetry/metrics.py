"""Prometheus metrics (CONTRACT §6). One registry per service instance, never a global one."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "telemetry_received", "Input messages accepted, by source", ["source"], registry=r
        )
        self.written = Counter(
            "telemetry_written",
            "Points durably written, by measurement",
            ["measurement"],
            registry=r,
        )
        self.rejected = Counter(
            "telemetry_rejected",
            "Inputs sent to the dead-letter store, by reason",
            ["reason"],
            registry=r,
        )
        self.dropped = Counter(
            "telemetry_dropped",
            "Records lost without a dead letter: input without an acknowledgement (QoS 0, MAVLink,"
            " derived) left unwritten at shutdown or refused once closed (the promise: stays 0)",
            registry=r,
        )
        self.spooled = Gauge("telemetry_spooled", "Points waiting in the durable spool", registry=r)
        self.spool_bytes = Gauge("telemetry_spool_bytes", "Bytes in the durable spool", registry=r)
        self.replayed = Counter(
            "telemetry_replayed", "Points moved from the spool into the store", registry=r
        )
        self.queue_depth = Gauge(
            "telemetry_queue_envelopes", "Messages waiting in the pipeline queue", registry=r
        )
        self.unacked = Gauge(
            "telemetry_unacked_messages",
            "MQTT QoS-1 messages received but not yet acknowledged",
            registry=r,
        )
        self.store_errors = Counter(
            "telemetry_store_errors", "Failed store calls, by retryable", ["retryable"], registry=r
        )
        self.batch_seconds = Histogram(
            "telemetry_batch_write_seconds", "Time to write one batch durably", registry=r
        )
        self.mqtt_connected = Gauge("telemetry_mqtt_connected", "1 while the MQTT session is up", registry=r)
        self.mqtt_connects = Counter(
            "telemetry_mqtt_connects", "MQTT connections established (1 + reconnects)", registry=r
        )
        self.mavlink_unsigned = Counter(
            "telemetry_mavlink_unsigned_refused",
            "MAVLink packets refused for lack of a valid signature",
            registry=r,
        )
        self.mavlink_bad = Counter("telemetry_mavlink_bad_data", "Undecodable MAVLink bytes", registry=r)
        self.webhooks = Counter(
            "telemetry_webhooks", "Alert webhook deliveries, by outcome", ["outcome"], registry=r
        )
        self.task_restarts = Counter(
            "telemetry_task_restarts",
            "Runtime tasks restarted after a failure, by task (telemetry/supervise.py)",
            ["task"],
            registry=r,
        )
        self.mavlink_link_failures = Counter(
            "telemetry_mavlink_link_failures",
            "MAVLink links that failed (could not open, or lost) and are reopened, by endpoint",
            ["link"],
            registry=r,
        )
        self.dead_letters_pruned = Counter(
            "telemetry_dead_letters_pruned",
            "Dead letters deleted by retention, by reason (age, size)",
            ["reason"],
            registry=r,
        )
        self.handed_over = Counter(
            "telemetry_handed_over_records",
            "Records the ingest workers of serve --workers handed to this process's derivations",
            registry=r,
        )
        self.queue_bytes = Gauge(
            "telemetry_queue_bytes", "Estimated bytes of the messages in the pipeline queue", registry=r
        )
        self.dropped.inc(0)
        self._sources: list[Callable[[], Iterable[Metric]]] = []

    def merge(self, source: Callable[[], Iterable[Metric]]) -> None:
        """More samples for :meth:`render` (other processes' metrics, with a label of their
        own), merged into this registry's families by name."""
        self._sources.append(source)

    def render(self) -> bytes:
        if not self._sources:
            return generate_latest(self.registry)
        return generate_latest(_Merged(self.registry, self._sources))


class _Merged:
    """A registry view: one family per name, the registry's samples then the sources'."""

    def __init__(self, registry: CollectorRegistry, sources: list[Callable[[], Iterable[Metric]]]) -> None:
        self._registry = registry
        self._sources = sources

    def collect(self) -> Iterable[Metric]:
        families = {f.name: f for f in self._registry.collect()}
        for source in self._sources:
            for extra in source():
                own = families.get(extra.name)
                if own is None:
                    families[extra.name] = extra
                elif own.type == extra.type:
                    own.samples.extend(extra.samples)
        return families.values()
