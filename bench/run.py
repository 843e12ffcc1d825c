"""`make bench`: the delivery engine measured against this machine's own ceiling.

Real PostgreSQL (database inboundflow_bench), real Redis (db 13), the worker and beat started
by scripts/worker and scripts/beat exactly as production starts them, and a multi-process
loopback receiver (bench/receiver.py) that verifies every signature and writes down every
receipt. Prints a table and writes bench-results/bench-<time>.json.

Scenarios (issue 4): 1 bare limit, 2 throughput (and fan-out), 3 latency without backlog,
4 save overhead, 5 isolation from a dead endpoint, 6 worker memory; `drain` (issue 10): the
engine alone, from 20,000 due deliveries to all of them recorded; 7 `ratelimit` (issue 12): a
hook limited to 50/s held at its rate beside a neighbour at full speed. `--quick` runs smaller counts
to try the harness. Whenever the harness waits it checks the processes it started: one that
exits stops the run at once with its last log lines.
"""
import argparse
import json
from contextlib import contextmanager
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "inboundflow_bench"
ENV = {
    "DJANGO_SETTINGS_MODULE": "inboundflow.settings",
    "DJANGO_SECRET_KEY": "bench-only-secret-key",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
    "WEBHOOKS_ALLOW_HTTP": "1",  # the receiver is plain HTTP on loopback
    "WEBHOOKS_ALLOW_LOOPBACK": "1",
    "WEBHOOKS_LOG_LEVEL": "WARNING",
    "PYTHONPATH": str(ROOT),
}
os.environ.update(ENV)
SECRET = "bench-secret"
RESULTS = ROOT / "bench-results"


# --- processes -------------------------------------------------------------------------------


class ProcessDied(RuntimeError):
    """A process the harness started exited while the run still needed it."""


class Started:
    """Every long-running process the harness started, with its log: whenever the harness waits,
    it looks, and a dead one stops the run at once with its last log lines."""

    processes: list[tuple[str, subprocess.Popen, Path]] = []

    @classmethod
    def add(cls, name: str, proc: subprocess.Popen, log: Path) -> None:
        cls.processes.append((name, proc, log))

    @classmethod
    def forget(cls, proc: subprocess.Popen) -> None:
        cls.processes = [entry for entry in cls.processes if entry[1] is not proc]

    @classmethod
    def kill_all(cls) -> None:
        for _name, proc, _log in cls.processes:
            try:
                os.killpg(proc.pid, signal.SIGKILL) if os.getpgid(proc.pid) == proc.pid else proc.kill()
            except ProcessLookupError:
                pass
        cls.processes = []

    @classmethod
    def check(cls) -> None:
        for name, proc, log in cls.processes:
            code = proc.poll()
            if code is not None:
                tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
                raise ProcessDied(f"{name} (pid {proc.pid}) exited with code {code}; last lines of {log}:\n" + "\n".join(tail))


def sleep_watching(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        Started.check()
        time.sleep(min(0.2, left))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Receivers:
    """N receiver processes sharing one port."""

    def __init__(self, workdir: Path, name: str, processes: int = 2, mode: str = "ok"):
        self.port = _free_port()
        self.files = [workdir / f"{name}-{i}.log" for i in range(processes)]
        self.procs = []
        for path in self.files:
            log = path.with_suffix(".stderr")
            with open(log, "ab") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bench.receiver", str(self.port), str(path), SECRET, mode], cwd=ROOT, stderr=err
                )
            Started.add(f"receiver {path.name}", proc, log)
            self.procs.append(proc)
        sleep_watching(0.5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def receipts(self) -> list[tuple[float, str, bool]]:
        rows = []
        for path in self.files:
            if path.exists():
                for line in path.read_text().splitlines():
                    at, delivery_id, verified = line.split()
                    rows.append((float(at), delivery_id, verified == "1"))
        return rows

    def stop(self) -> None:
        for proc in self.procs:
            Started.forget(proc)
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Worker:
    def __init__(self, workdir: Path, processes: int | None = None, **env):
        log_path = workdir / "worker.log"
        log = open(log_path, "ab")
        # scripts/worker runs `celery` from PATH, as production does: the venv's comes first.
        full_env = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        processes = processes or int(os.environ.get("BENCH_WORKERS", "1"))
        self.workers = [
            subprocess.Popen([str(ROOT / "scripts/worker"), "-n", f"bench{i}@%h"], cwd=ROOT, env=full_env, stdout=log, stderr=log, start_new_session=True)
            for i in range(processes)
        ]
        self.worker = self.workers[0]
        self.beat = subprocess.Popen(
            [str(ROOT / "scripts/beat")], cwd=ROOT, stdout=log, stderr=log, start_new_session=True,
            env={**full_env, "BEAT_SCHEDULE_FILE": str(workdir / "beat-schedule")},
        )
        for index, proc in enumerate(self.workers):
            Started.add(f"worker {index}", proc, log_path)
        Started.add("beat", self.beat, log_path)
        sleep_watching(3)

    def cpu(self) -> float:
        return sum(cpu_seconds(w.pid) for w in self.workers)  # each a single process: the pool is threads

    def stop(self) -> None:
        for proc in (self.beat, *self.workers):
            Started.forget(proc)
            _signal_group(proc, signal.SIGTERM)
        for proc in (self.beat, *self.workers):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass  # it already died (and the run says so)


# --- database ----------------------------------------------------------------------------------


def prepare_database() -> None:
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB_NAME], capture_output=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)
    import django

    django.setup()


def reset() -> None:
    from django.db import connection
    import redis

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE webhooks_attempt, webhooks_delivery, webhooks_event, webhooks_integration, "
            "inboundflow_lead, inboundflow_appointment, inboundflow_call, inboundflow_user, "
            "inboundflow_organization CASCADE"
        )
    redis.Redis.from_url(ENV["CELERY_BROKER_URL"]).flushdb()


def organization_with(urls: list[str]):
    from inboundflow.models import Organization
    from webhooks.models import Integration

    organization = Organization.objects.create(name="Bench")
    for index, url in enumerate(urls):
        Integration.objects.create(
            organization=organization, name=f"hook {index}", target_url=url, secret=SECRET,
            event_types=["call.completed"],
        )
    return organization


def delivery_calls() -> dict[str, str]:
    from webhooks.models import Delivery

    return {str(d): str(c) for d, c in Delivery.objects.values_list("id", "event__source_id")}


@contextmanager
def running(workdir: Path, name: str, *, integrations: int = 1, extra_urls=()):
    """A clean database, a receiver, an organization with its integrations, and a worker."""
    reset()
    receivers = Receivers(workdir, name)
    organization = organization_with([receivers.url] * integrations + list(extra_urls))
    worker = Worker(workdir)
    try:
        yield receivers, organization, worker
    finally:
        worker.stop()
        receivers.stop()


# --- saving calls ------------------------------------------------------------------------------


def _save_chunk(args) -> list[tuple[str, float]]:
    organization_id, count, rate, offset = args
    import datetime as dt

    from django.db import connections
    from django.utils import timezone

    from inboundflow.models import Call

    connections.close_all()
    saved = []
    started = time.time()
    for index in range(count):
        if rate:
            pause = started + index / rate - time.time()
            if pause > 0:
                time.sleep(pause)
        begin = time.time()
        now = timezone.now()
        call = Call.objects.create(
            organization_id=organization_id, state=Call.State.COMPLETED, caller_phone="+15550100",
            caller_name=f"Caller {offset + index}", started_at=now - dt.timedelta(seconds=60), ended_at=now,
            summary="Benchmark call: brake inspection for a 2019 Honda Civic.", intent="book appointment",
            urgency="medium",
        )
        saved.append((str(call.id), begin))
    connections.close_all()
    return saved


def save_calls(organization, count: int, processes: int = 2, rate: float | None = None) -> dict[str, float]:
    """Save `count` completed calls from `processes` processes; returns call id → save start."""
    from django.db import connections

    connections.close_all()
    share = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    per_process_rate = rate / processes if rate else None
    offsets = [sum(share[:i]) for i in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        chunks = pool.map(_save_chunk, [(organization.id, n, per_process_rate, o) for n, o in zip(share, offsets)])
    return {call_id: at for chunk in chunks for call_id, at in chunk}


def wait_for_receipts(receivers: Receivers, expected: int, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = receivers.receipts()
        if len({r[1] for r in rows}) >= expected:
            sleep_watching(0.3)
            return receivers.receipts()
        sleep_watching(0.2)
    return receivers.receipts()


def summarize(rows, saves: dict[str, float], expected: int) -> dict:
    counts = Counter(r[1] for r in rows)
    first_receipt = {}
    for at, delivery_id, _ in sorted(rows):
        first_receipt.setdefault(delivery_id, at)
    mapping = delivery_calls()
    latencies = sorted(first_receipt[d] - saves[mapping[d]] for d in first_receipt if mapping.get(d) in saves)
    start = min(saves.values())
    end = max(first_receipt.values()) if first_receipt else start
    return {
        "expected": expected,
        "received_distinct": len(counts),
        "lost": expected - len(counts),
        "duplicates": sum(n - 1 for n in counts.values()),
        "unverified": sum(1 for r in rows if not r[2]),
        "seconds": round(end - start, 3),
        "saving_seconds": round(max(saves.values()) - start, 3),
        "deliveries_per_s": round(len(counts) / (end - start), 1) if end > start else None,
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
    }


# --- scenarios ---------------------------------------------------------------------------------


def bare_limit(workdir: Path, seconds: float) -> dict:
    result = {}
    for clients in (1, 2):
        receivers = Receivers(workdir, f"bare{clients}")
        procs = [
            subprocess.Popen([sys.executable, "-m", "bench.bare", receivers.url, str(seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
            for _ in range(clients)
        ]
        total = sum(int(p.communicate()[0].strip()) for p in procs)
        result[f"{clients}_process"] = {"requests_per_s": round(total / seconds, 1), "receiver_cpu_s": round(receivers.cpu(), 2)}
        receivers.stop()
    return result


def throughput(workdir: Path, calls: int, integrations: int, name: str) -> dict:
    with running(workdir, name, integrations=integrations) as (receivers, organization, worker):
        cpu_before = worker.cpu()
        saves = save_calls(organization, calls)
        rows = wait_for_receipts(receivers, calls * integrations, timeout=600)
        # one call → `integrations` deliveries; latency is per delivery from its call's save
        result = summarize(rows, saves, calls * integrations)
        result.update(worker_cpu_s=round(worker.cpu() - cpu_before, 1), receiver_cpu_s=round(receivers.cpu(), 1))
    return result


def latency(workdir: Path, rate: float, seconds: float) -> dict:
    with running(workdir, "latency") as (receivers, organization, _):
        saves = save_calls(organization, int(rate * seconds), processes=1, rate=rate)
        rows = wait_for_receipts(receivers, len(saves), timeout=120)
    return summarize(rows, saves, len(saves))


def save_overhead(workdir: Path, saves_per_case: int) -> dict:
    from django.conf import settings

    receivers = Receivers(workdir, "overhead")
    worker = Worker(workdir)
    result = {}
    for case, hooks, enabled in [("off", 0, False), ("0_subscribers", 0, True), ("1_subscriber", 1, True), ("5_subscribers", 5, True)]:
        reset()
        organization = organization_with([receivers.url] * hooks)
        settings.WEBHOOKS_ENABLED = enabled
        for _ in range(50):  # warm-up
            save_calls_inline(organization)
        timings = []
        for _ in range(saves_per_case):
            started = time.perf_counter()
            save_calls_inline(organization)
            timings.append(time.perf_counter() - started)
        result[case] = {
            "saves_per_s": round(len(timings) / sum(timings), 1),
            "p50_ms": round(1000 * statistics.median(timings), 3),
        }
    settings.WEBHOOKS_ENABLED = True
    for case in ("0_subscribers", "1_subscriber", "5_subscribers"):
        result[case]["added_p50_ms"] = round(result[case]["p50_ms"] - result["off"]["p50_ms"], 3)
    worker.stop()
    receivers.stop()
    return result


def save_calls_inline(organization) -> None:
    import datetime as dt

    from django.utils import timezone

    from inboundflow.models import Call

    now = timezone.now()
    Call.objects.create(
        organization=organization, state=Call.State.COMPLETED, caller_name="Overhead",
        started_at=now - dt.timedelta(seconds=30), ended_at=now, summary="Save overhead.",
    )


def isolation(workdir: Path, calls: int) -> dict:
    """The healthy integration's figures beside a dead one, and alone (the same calls)."""
    alone = _healthy_beside(workdir, calls, with_dead=False)
    beside = _healthy_beside(workdir, calls, with_dead=True)
    beside["share_of_alone"] = round(beside["deliveries_per_s"] / alone["deliveries_per_s"], 3)
    return {"alone": alone, "beside_dead": beside}


def _healthy_beside(workdir: Path, calls: int, with_dead: bool) -> dict:
    from webhooks.models import Delivery

    dead = Receivers(workdir, "dead", processes=1, mode="silent") if with_dead else None
    try:
        with running(workdir, f"healthy-{with_dead}", extra_urls=[dead.url] if dead else []) as (healthy, organization, _):
            saves = save_calls(organization, calls)
            rows = wait_for_receipts(healthy, calls, timeout=600)
            mine = {str(d) for d in Delivery.objects.filter(integration__target_url=healthy.url).values_list("id", flat=True)}
            result = summarize([r for r in rows if r[1] in mine], saves, calls)
    finally:
        if dead:
            dead.stop()
    if dead:
        result["dead_requests_seen"] = len(dead.receipts())
    return result


def drain_scenario(workdir: Path, deliveries: int) -> dict:
    """The engine alone: `deliveries` due deliveries written before any worker starts, for 1 and
    for 20 integrations, drained by 1 and by 2 worker processes; each compared with the bare
    limit of as many processes measured in this run."""
    bare = bare_limit(workdir, 10 if deliveries >= 10_000 else 3)
    result: dict = {"deliveries": deliveries, "bare": bare}
    # The defaults (two drain slots), then one hot integration with one slot (WEBHOOKS_DRAIN_SLOTS=1):
    # one drain at a time, whatever the processes.
    for integrations, processes, slots in ((1, 1, None), (1, 2, None), (20, 1, None), (20, 2, None), (1, 2, 1)):
        figures = _drain_once(workdir, deliveries, integrations, processes, slots)
        figures["ratio_to_bare"] = round(figures["deliveries_per_s"] / bare[f"{processes}_process"]["requests_per_s"], 3)
        key = f"{processes}_process" + (f"_{slots}_slot{'s' if slots > 1 else ''}" if slots else "")
        result.setdefault(f"{integrations}_integration{'s' if integrations > 1 else ''}", {})[key] = figures
        print(f"   drain {integrations} × {key}: {figures}", flush=True)
    return result


def write_due_deliveries(organization, count: int, hooks: list | None = None) -> None:
    """`count` events of realistic size, each due now for one of the organization's integrations
    (or of `hooks`), written in bulk as event_emit would have written them (the worker is not
    running yet)."""
    import datetime as dt
    import uuid

    from django.utils import timezone

    from webhooks.events import build_data
    from webhooks.models import Delivery, Event
    from webhooks.payloads import canonical_json
    from inboundflow.models import Call

    hooks = hooks or list(organization.integrations.order_by("name").values_list("id", flat=True))
    now = timezone.now()
    for start in range(0, count, 2_000):
        events, rows = [], []
        for index in range(start, min(count, start + 2_000)):
            call = Call(
                id=uuid.uuid4(), organization=organization, state=Call.State.COMPLETED, caller_phone="+15550100",
                caller_name=f"Caller {index}", caller_email="caller@example.com", started_at=now - dt.timedelta(seconds=60),
                ended_at=now, summary="Benchmark call: brake inspection for a 2019 Honda Civic.",
                transcript="AI: Thanks for calling! How can I help?\nCaller: My brakes squeak.", intent="book appointment",
                urgency="medium",
            )
            event = Event(organization=organization, event_type="call.completed", occurred_at=now,
                          data=canonical_json(build_data("call.completed", call)), source_id=call.id)
            events.append(event)
            rows.append(Delivery(event=event, integration_id=hooks[index % len(hooks)], next_attempt_at=now, enqueued_at=now))
        Event.objects.bulk_create(events)
        Delivery.objects.bulk_create(rows)


def _drain_once(workdir: Path, deliveries: int, integrations: int, processes: int, slots: int | None) -> dict:
    from webhooks.engine import ring
    from webhooks.models import Delivery

    reset()
    receivers = Receivers(workdir, f"drain-{integrations}-{processes}-{slots or 'default'}")  # its own receipts
    organization = organization_with([receivers.url] * integrations)
    write_due_deliveries(organization, deliveries)
    worker = Worker(workdir, processes=processes, **({"WEBHOOKS_DRAIN_SLOTS": str(slots)} if slots else {}))
    try:
        cpu_before = worker.cpu()
        started = time.monotonic()
        ring(organization.integrations.values_list("id", flat=True), force=True)
        deadline = started + 600
        while (done := Delivery.objects.filter(status="succeeded").count()) < deliveries and time.monotonic() < deadline:
            sleep_watching(0.1)
        seconds = time.monotonic() - started
        cpu = worker.cpu() - cpu_before
        rows = wait_for_receipts(receivers, deliveries, timeout=30)
    finally:
        worker.stop()
        receivers.stop()
    counts = Counter(r[1] for r in rows)
    return {
        "succeeded": done,
        "lost": deliveries - len(counts),
        "duplicates": sum(n - 1 for n in counts.values()),
        "unverified": sum(1 for r in rows if not r[2]),
        "seconds": round(seconds, 2),
        "deliveries_per_s": round(done / seconds, 1),
        "worker_cpu_ms_per_delivery": round(1000 * cpu / max(done, 1), 3),
    }


def rate_limit(workdir: Path, seconds: float, neighbour: int) -> dict:
    """A hook limited to RATE per second beside a neighbour without a limit, both with a
    backlog written before the workers start, drained by 2 worker processes with 2 drain slots
    (so both processes take from the limited hook's shared bucket). The limited hook's rate is
    read from its own receipts (target: within 5 % of RATE); the neighbour's throughput is
    compared with the same backlog drained alone."""
    from inboundflow.models import Organization
    from webhooks.engine import ring
    from webhooks.models import Delivery, Integration

    rate = 50.0
    limited = int(rate * seconds)
    result: dict = {"rate": rate, "limited_deliveries": limited, "neighbour_deliveries": neighbour}
    for case in ("neighbour_alone", "beside_limited"):
        reset()
        free_rx = Receivers(workdir, f"ratelimit-free-{case}")
        limited_rx = Receivers(workdir, f"ratelimit-limited-{case}")
        organization = Organization.objects.create(name="Bench")
        free = Integration.objects.create(organization=organization, name="free", target_url=free_rx.url, secret=SECRET,
                                          event_types=["call.completed"])
        write_due_deliveries(organization, neighbour, hooks=[free.id])
        expected = neighbour
        if case == "beside_limited":
            slow = Integration.objects.create(organization=organization, name="limited", target_url=limited_rx.url,
                                              secret=SECRET, event_types=["call.completed"], max_per_second=rate)
            write_due_deliveries(organization, limited, hooks=[slow.id])
            expected += limited
        worker = Worker(workdir, processes=2, WEBHOOKS_DRAIN_SLOTS="2")
        try:
            ring(organization.integrations.values_list("id", flat=True), force=True)
            deadline = time.monotonic() + 600
            while Delivery.objects.filter(status="succeeded").count() < expected and time.monotonic() < deadline:
                sleep_watching(0.2)
            free_rows = wait_for_receipts(free_rx, neighbour, timeout=30)
            limited_rows = wait_for_receipts(limited_rx, limited, timeout=30) if case == "beside_limited" else []
        finally:
            worker.stop()
            free_rx.stop()
            limited_rx.stop()
        free_times = sorted(r[0] for r in free_rows)
        figures = {
            "neighbour_deliveries_per_s": round((len(free_times) - 1) / (free_times[-1] - free_times[0]), 1),
            "neighbour_lost": neighbour - len({r[1] for r in free_rows}),
        }
        if limited_rows:
            times = sorted(r[0] for r in limited_rows)
            held = (len(times) - 1) / (times[-1] - times[0])
            figures.update({
                "limited_per_s": round(held, 2),
                "limited_error": round(held / rate - 1, 4),
                "limited_most_in_1s": max(sum(1 for t in times if start <= t < start + 1) for start in times),
                "limited_lost": limited - len({r[1] for r in limited_rows}),
            })
        result[case] = figures
    result["neighbour_share_of_alone"] = round(
        result["beside_limited"]["neighbour_deliveries_per_s"] / result["neighbour_alone"]["neighbour_deliveries_per_s"], 3
    )
    return result


def memory(workdir: Path, small: int, large: int) -> dict:
    with running(workdir, "memory") as (receivers, organization, worker):
        save_calls(organization, small)
        wait_for_receipts(receivers, small, timeout=300)
        after_small = {"peak_rss_mb": round(peak_rss_mb(worker.worker.pid), 1), "rss_mb": round(rss_mb(worker.worker.pid), 1)}
        for start in range(small, large, 10_000):
            save_calls(organization, min(10_000, large - start))
        rows = wait_for_receipts(receivers, large, timeout=1800)
        after_large = {"peak_rss_mb": round(peak_rss_mb(worker.worker.pid), 1), "rss_mb": round(rss_mb(worker.worker.pid), 1)}
    counts = Counter(r[1] for r in rows)
    return {
        f"after_{small}": after_small,
        f"after_{large}": after_large,
        "received_distinct": len(counts),
        "duplicates": sum(n - 1 for n in counts.values()),
        "peak_growth": round(after_large["peak_rss_mb"] / after_small["peak_rss_mb"] - 1, 3),
    }


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, to try the harness")
    parser.add_argument("--only", nargs="*", help="scenarios to run: bare drain throughput fanout latency overhead isolation memory ratelimit")
    args = parser.parse_args()
    quick = args.quick
    wanted = set(args.only or ["bare", "drain", "throughput", "fanout", "latency", "overhead", "isolation", "memory", "ratelimit"])
    RESULTS.mkdir(exist_ok=True)
    workdir = RESULTS / time.strftime("run-%Y%m%d-%H%M%S")
    workdir.mkdir()
    prepare_database()
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "worker_command": "scripts/worker (celery worker --pool threads --concurrency ${WORKER_CONCURRENCY:-16}) + scripts/beat",
    }
    steps = [
        ("bare", lambda: bare_limit(workdir, 3 if quick else 10)),
        ("drain", lambda: drain_scenario(workdir, 2_000 if quick else 20_000)),
        ("throughput", lambda: throughput(workdir, 1000 if quick else 10_000, 1, "throughput")),
        ("fanout", lambda: throughput(workdir, 200 if quick else 2_000, 5, "fanout")),
        ("latency", lambda: latency(workdir, 50, 4 if quick else 20)),
        ("overhead", lambda: save_overhead(workdir, 100 if quick else 1000)),
        ("isolation", lambda: isolation(workdir, 500 if quick else 2_000)),
        ("memory", lambda: memory(workdir, 1_000, 5_000 if quick else 100_000)),
        ("ratelimit", lambda: rate_limit(workdir, 5 if quick else 20, 1_000 if quick else 6_000)),
    ]
    for name, step in steps:
        if name in wanted:
            print(f"== {name} ...", flush=True)
            try:
                report[name] = step()
            except ProcessDied as death:
                print(f"\nSTOPPED: {death}", file=sys.stderr, flush=True)
                Started.kill_all()
                sys.exit(1)
            except BaseException:
                Started.kill_all()  # never leave a worker behind to skew the next run
                raise
            print(json.dumps(report[name], indent=1), flush=True)
    bare2 = report.get("bare", {}).get("2_process", {}).get("requests_per_s")
    for name in ("throughput", "fanout"):
        if bare2 and report.get(name, {}).get("deliveries_per_s"):
            report[name]["ratio_to_bare_2_process"] = round(report[name]["deliveries_per_s"] / bare2, 3)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"\nJSON: {out}")


def print_table(report: dict) -> None:
    rows = []
    bare = report.get("bare", {})
    for key in ("1_process", "2_process"):
        if key in bare:
            rows.append((f"1 bare limit, {key.replace('_', ' ')}", f"{bare[key]['requests_per_s']} req/s", ""))
    for name, label in (("throughput", "2 throughput 10k calls × 1 hook"), ("fanout", "2 fan-out 2k calls × 5 hooks")):
        if name in report:
            r = report[name]
            rows.append((label, f"{r['deliveries_per_s']} deliveries/s", f"ratio {r.get('ratio_to_bare_2_process')} (target ≥ 0.35); lost {r['lost']}, dup {r['duplicates']}, unverified {r['unverified']}"))
    if "drain" in report:
        for key, label in (("1_integration", "1 integration"), ("20_integrations", "20 integrations")):
            for processes, r in report["drain"][key].items():
                rows.append((
                    f"2 drain {report['drain']['deliveries'] // 1000}k due, {label} × {processes.replace('_', ' ')}",
                    f"{r['deliveries_per_s']} deliveries/s, {r['worker_cpu_ms_per_delivery']} ms CPU each",
                    f"ratio {r['ratio_to_bare']} (target ≥ 0.6); lost {r['lost']}, dup {r['duplicates']}, unverified {r['unverified']}",
                ))
    if "latency" in report:
        r = report["latency"]
        rows.append(("3 latency at 50 calls/s", f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms", "target p50 ≤ 50, p99 ≤ 250"))
    if "overhead" in report:
        for case, r in report["overhead"].items():
            rows.append((f"4 save, {case.replace('_', ' ')}", f"{r['saves_per_s']} saves/s, p50 {r['p50_ms']} ms", f"added {r.get('added_p50_ms', '—')} ms (target ≤ 1 with 1)"))
    if "isolation" in report:
        alone, beside = report["isolation"]["alone"], report["isolation"]["beside_dead"]
        rows.append(("5 isolation: healthy hook alone", f"{alone['deliveries_per_s']} deliveries/s, p99 {alone['p99_ms']} ms", ""))
        rows.append(("5 isolation: healthy hook beside a dead one", f"{beside['deliveries_per_s']} deliveries/s, p99 {beside['p99_ms']} ms", f"{beside['share_of_alone']} of alone (target ≥ 0.8, p99 ≤ 1000)"))
    if "memory" in report:
        r = report["memory"]
        rows.append(("6 worker peak RSS", " → ".join(f"{v['peak_rss_mb']} MB" for k, v in r.items() if k.startswith("after_")), f"growth {r['peak_growth']:.1%} (target ≤ 10 %)"))
    if "ratelimit" in report:
        r = report["ratelimit"]
        beside = r["beside_limited"]
        rows.append((f"7 rate limit {r['rate']:g}/s beside a free hook", f"{beside['limited_per_s']}/s held, at most {beside['limited_most_in_1s']} in 1 s",
                     f"error {beside['limited_error']:+.1%} (target ±5 %); lost {beside['limited_lost']}"))
        rows.append(("7 its neighbour, no limit", f"{beside['neighbour_deliveries_per_s']} deliveries/s",
                     f"{r['neighbour_share_of_alone']} of alone ({r['neighbour_alone']['neighbour_deliveries_per_s']}/s)"))
    width = max(len(r[0]) for r in rows) if rows else 10
    print()
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:<40} {note}")


if __name__ == "__main__":
    main()
