"""What an operator watches: counters the engine writes, and the Prometheus page that reads them.

Counting goes through the database, not prometheus-client's multiprocess mode: deliveries are
recorded by Celery worker processes on any number of hosts, which serve no HTTP, while
`/metrics` is answered by whichever web process the scrape reaches. Multiprocess mode shares
files between the processes of one host only, so a scrape would see that host's workers and
miss the others'. In the database every process adds to the same rows, in the transaction that
records what it counts: a count is never lost nor doubled when a worker dies mid-batch.

Each process adds to its own share of a counter (`shard`), so that two workers recording at
once never wait for each other's row; `/metrics` sums the shares. Gauges (backlog, held,
disabled) are read from the tables themselves at scrape time.
"""
import json
import os
import time

from django.db import connection
from django.utils import timezone

from .models import Delivery, Integration, MetricCount

SHARDS = 16

# Upper bounds, in seconds, of the attempt duration histogram (the cut is WEBHOOKS_TIMEOUT).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

DELIVERIES = "deliveries_total"
ATTEMPTS = "attempts_total"
DURATION_BUCKET = "attempt_duration_seconds_bucket"  # per bucket, not cumulative: summed at scrape
DURATION_SUM = "attempt_duration_seconds_sum"
SWEEP_RUNS = "sweep_runs_total"
SWEEP_FOUND = "sweep_found_total"
SWEEP_LAST = "sweep_last_run_timestamp_seconds"  # a value set, not added to


def _labels(**labels) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _bucket(seconds: float) -> str:
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            return repr(bound)
    return "+Inf"


def attempts_counted(attempts) -> dict:
    """Increments for recorded attempts: `attempts` holds (error class or "none", seconds,
    final delivery outcome or None, event type, is a test)."""
    counts: dict = {}

    def add(name, labels, value=1.0):
        counts[(name, labels)] = counts.get((name, labels), 0.0) + value

    for error_class, seconds, outcome, event_type, is_test in attempts:
        add(ATTEMPTS, _labels(error_class=error_class or "none"))
        add(DURATION_BUCKET, _labels(le=_bucket(seconds)))
        add(DURATION_SUM, "", seconds)
        if outcome is not None and not is_test:
            add(DELIVERIES, _labels(event_type=event_type, outcome=outcome))
    return counts


def _upsert(values: dict, *, shard: int, added: bool) -> None:
    """Write `values` ({(name, labels): value}) into `shard`, added to what is there or in its
    place. Rows go in one order, so two transactions never wait on each other in a cycle."""
    table = MetricCount._meta.db_table
    keys = sorted(values)
    new_value = f"{table}.value + excluded.value" if added else "excluded.value"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, labels, shard, value) VALUES "
            + ", ".join(["(%s, %s, %s, %s)"] * len(keys))
            + f" ON CONFLICT (name, labels, shard) DO UPDATE SET value = {new_value}",
            [part for key in keys for part in (*key, shard, values[key])],
        )


def add(counts: dict) -> None:
    """Add `counts` ({(name, labels): value}) to this process's share, in the caller's transaction."""
    if counts:
        _upsert(counts, shard=os.getpid() % SHARDS, added=True)


def sweep_counted(found: int) -> None:
    add({(SWEEP_RUNS, ""): 1.0, (SWEEP_FOUND, ""): float(found)})
    _upsert({(SWEEP_LAST, ""): time.time()}, shard=0, added=False)


def last_sweep_at() -> float | None:
    """When a sweep last ran (seconds since the epoch), on any host; None if none ever did."""
    return MetricCount.objects.filter(name=SWEEP_LAST).values_list("value", flat=True).first()


# --- Reading ---------------------------------------------------------------------------------


def _summed() -> dict:
    totals: dict = {}
    for name, labels, value in MetricCount.objects.exclude(name=SWEEP_LAST).values_list("name", "labels", "value"):
        totals[(name, labels)] = totals.get((name, labels), 0.0) + value
    return totals


def collect():
    """The metric families, for prometheus-client's exposition."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    totals = _summed()

    def by(name):
        return [(json.loads(labels) if labels else {}, value) for (n, labels), value in totals.items() if n == name]

    deliveries = CounterMetricFamily(
        "webhooks_deliveries", "Deliveries that reached a final outcome (tests excepted).",
        labels=["event_type", "outcome"],
    )
    for labels, value in sorted(by(DELIVERIES), key=lambda item: sorted(item[0].items())):
        deliveries.add_metric([labels["event_type"], labels["outcome"]], value)
    yield deliveries

    attempts = CounterMetricFamily(
        "webhooks_attempts", "Attempts made, by error class (none: the endpoint answered 2xx).",
        labels=["error_class"],
    )
    for labels, value in sorted(by(ATTEMPTS), key=lambda item: item[0]["error_class"]):
        attempts.add_metric([labels["error_class"]], value)
    yield attempts

    per_bucket = {labels["le"]: value for labels, value in by(DURATION_BUCKET)}
    cumulative, buckets = 0.0, []
    for bound in [*map(repr, DURATION_BUCKETS), "+Inf"]:
        cumulative += per_bucket.get(bound, 0.0)
        buckets.append((bound, cumulative))
    histogram = HistogramMetricFamily(
        "webhooks_attempt_duration_seconds", "How long attempts took, connection to last byte."
    )
    histogram.add_metric([], buckets, totals.get((DURATION_SUM, ""), 0.0))
    yield histogram

    now = timezone.now()
    due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
    yield GaugeMetricFamily("webhooks_due_deliveries", "Pending deliveries whose time has come (the backlog).", value=due.count())
    oldest = due.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    yield GaugeMetricFamily(
        "webhooks_oldest_due_delivery_age_seconds",
        "How long the oldest due delivery has been waiting since it became due (0: none).",
        value=(now - oldest).total_seconds() if oldest else 0.0,
    )
    yield GaugeMetricFamily(
        "webhooks_held_deliveries", "Deliveries held because their integration is disabled.",
        value=Delivery.objects.filter(status=Delivery.Status.HELD).count(),
    )
    yield GaugeMetricFamily(
        "webhooks_disabled_integrations", "Integrations disabled (by their owner or after repeated failures).",
        value=Integration.objects.filter(state=Integration.State.DISABLED).count(),
    )
    yield CounterMetricFamily("webhooks_sweep_runs", "Sweeps run.", value=totals.get((SWEEP_RUNS, ""), 0.0))
    yield CounterMetricFamily(
        "webhooks_sweep_found", "Due deliveries the sweeps found nobody had rung for.",
        value=totals.get((SWEEP_FOUND, ""), 0.0),
    )
    last = last_sweep_at()
    yield GaugeMetricFamily(
        "webhooks_sweep_last_run_timestamp_seconds", "When a sweep last ran (0: never).", value=last or 0.0
    )


def exposition(accept: str) -> tuple[bytes, str]:
    """The page and its content type, in the format the scraper asks for (`Accept`): Prometheus'
    text format 0.0.4 unless it asks for another that prometheus-client writes."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    class _Collector:
        def collect(self):
            return collect()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type
