"""Medians (min–max) of several `make bench` runs, as the README's performance table shows them.

    .venv/bin/python -m bench.median bench/results/bench-A.json bench/results/bench-B.json …
"""
import json
import statistics
import sys

# (label, path into the report's JSON, unit)
FIGURES = [
    ("1 bare limit, 1 process", ("bare", "1_process", "requests_per_s"), "req/s"),
    ("1 bare limit, 2 processes", ("bare", "2_process", "requests_per_s"), "req/s"),
    *[
        (f"2 drain, {integrations.replace('_', ' ')} × {processes.replace('_', ' ')}", ("drain", integrations, processes, key), unit)
        for integrations in ("1_integration", "20_integrations")
        for processes in ("1_process", "2_process", "2_process_1_slot", "2_process_2_slots")
        for key, unit in (("deliveries_per_s", "deliveries/s"), ("worker_cpu_ms_per_delivery", "ms CPU each"), ("ratio_to_bare", "× bare"))
    ],
    ("2 throughput 10k × 1 (2 saving processes)", ("throughput", "deliveries_per_s"), "deliveries/s"),
    ("2 throughput, ratio", ("throughput", "ratio_to_bare_2_process"), "× bare"),
    ("2 fan-out 2k × 5", ("fanout", "deliveries_per_s"), "deliveries/s"),
    ("2 fan-out, ratio", ("fanout", "ratio_to_bare_2_process"), "× bare"),
    ("3 latency p50", ("latency", "p50_ms"), "ms"),
    ("3 latency p99", ("latency", "p99_ms"), "ms"),
    ("4 save, off, p50", ("overhead", "off", "p50_ms"), "ms"),
    ("4 save, 0 subscribers, added p50", ("overhead", "0_subscribers", "added_p50_ms"), "ms"),
    ("4 save, 1 subscriber, added p50", ("overhead", "1_subscriber", "added_p50_ms"), "ms"),
    ("4 save, 5 subscribers, added p50", ("overhead", "5_subscribers", "added_p50_ms"), "ms"),
    ("5 isolation, alone", ("isolation", "alone", "deliveries_per_s"), "deliveries/s"),
    ("5 isolation, beside a dead one", ("isolation", "beside_dead", "deliveries_per_s"), "deliveries/s"),
    ("5 isolation, share of alone", ("isolation", "beside_dead", "share_of_alone"), "×"),
    ("5 isolation, p99 beside a dead one", ("isolation", "beside_dead", "p99_ms"), "ms"),
    ("6 worker peak RSS growth", ("memory", "peak_growth"), "× 100 %"),
    ("7 rate limit, held", ("ratelimit", "beside_limited", "limited_per_s"), "/s (limit 50)"),
    ("7 rate limit, error", ("ratelimit", "beside_limited", "limited_error"), "× 100 %"),
    ("7 neighbour, share of alone", ("ratelimit", "neighbour_share_of_alone"), "×"),
]


def _get(report: dict, path: tuple):
    for key in path:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def main(paths: list[str]) -> None:
    reports = [json.loads(open(path).read()) for path in paths]
    print(f"| figure | median of {len(reports)} (min–max) | unit |")
    print("| --- | --- | --- |")
    for label, path, unit in FIGURES:
        values = [value for value in (_get(report, path) for report in reports) if value is not None]
        if values:
            print(f"| {label} | {statistics.median(values):g} ({min(values):g}–{max(values):g}) | {unit} |")


if __name__ == "__main__":
    main(sys.argv[1:])
