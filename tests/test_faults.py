"""Nothing lost under faults, with real processes: Redis stopped and restarted, a worker
SIGKILLed mid-delivery, PostgreSQL connections dropped, and concurrent writers."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict

import psycopg2
import pytest
import redis
from django.db import connection, connections

from inboundflow.models import Call
from webhooks import services
from webhooks.devtools.receiver import always
from webhooks.models import Attempt, Delivery, Event, Integration

from .conftest import ROOT, WorkerProcess, completed_call, wait_until, worker_database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server this test starts on a spare port, and can stop and start again."""

    def __init__(self, directory):
        self.port = free_port()
        self.directory = directory
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        assert wait_until(lambda: _pings(client), timeout=10), "redis-server did not start"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: Redis shuts down cleanly; SIGKILL: it vanishes, sockets reset, as in a crash."""
        self.process.send_signal(sig)
        self.process.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@pytest.fixture
def spare_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def save_calls(organization, count: int, label: str, broker_url: str) -> list[float]:
    """Save calls from a separate process that publishes to `broker_url`."""
    env = {**os.environ, "CELERY_BROKER_URL": broker_url, "DATABASE_URL": worker_database_url(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.helpers.save_calls", str(organization.pk), str(count), label],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["durations"]


def test_saves_succeed_while_redis_is_down_and_everything_arrives_after(spare_redis, tmp_path, organization, make_integration, receiver):
    # given: a worker on a Redis this test owns
    make_integration(receiver.url)
    worker = WorkerProcess(tmp_path / "worker.log", CELERY_BROKER_URL=spare_redis.url).start()
    try:
        save_calls(organization, 1, "before", spare_redis.url)
        assert receiver.wait_for(1)[0].json["data"]["caller_name"] == "before 0"
        # when: Redis stops, and calls keep ending
        spare_redis.stop()
        durations = save_calls(organization, 5, "during", spare_redis.url)
        # then: every save succeeded, promptly, and nothing could be sent yet
        assert Call.objects.count() == 6 and max(durations) < 5, durations
        assert Delivery.objects.filter(status="pending").count() == 5
        time.sleep(2)
        assert len(receiver.received) == 1
        # when: Redis is back (empty: it keeps nothing on disk)
        spare_redis.start()
        # then: the sweep finds every delivery in the database and sends it
        received = receiver.wait_for(6, timeout=90)
        assert sorted(r.json["data"]["caller_name"] for r in received[1:]) == [f"during {i}" for i in range(5)]
        assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 6, timeout=30)
        assert all(r.problems == [] for r in received)
    finally:
        worker.stop()


def test_a_worker_killed_mid_delivery_loses_nothing_and_never_overlaps(tmp_path, organization, make_integration, receiver):
    # given: a slow endpoint, 60 calls, and a worker that will be killed
    broker_url = "redis://127.0.0.1:6379/14"
    redis.Redis.from_url(broker_url).flushdb()
    env = {"CELERY_BROKER_URL": broker_url, "WEBHOOKS_TIMEOUT": "2", "WEBHOOKS_LEASE_SECONDS": "22"}

    def slow(received):
        time.sleep(0.5)
        return 200, b"", {}

    receiver.responder = slow
    make_integration(receiver.url)
    first = WorkerProcess(tmp_path / "first.log", **env).start()
    save_calls(organization, 60, "call", broker_url)
    # when: SIGKILL while deliveries are in flight, then a new worker
    assert receiver.wait_for(12, timeout=60)
    first.kill()
    in_flight_at_kill = len(receiver.received)
    assert in_flight_at_kill < 60
    second = WorkerProcess(tmp_path / "second.log", **env).start()
    try:
        # then: every delivery ends succeeded
        assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 60, timeout=120)
    finally:
        second.stop()
    assert_each_delivered_never_twice_at_once(receiver.received)


def assert_each_delivered_never_twice_at_once(received) -> None:
    """Every delivery arrived, signed, and no two requests of one delivery overlapped in time."""
    by_id = defaultdict(list)
    for item in received:
        by_id[item.delivery_id].append((item.at, item.done_at))
    assert set(by_id) == {str(pk) for pk in Delivery.objects.values_list("pk", flat=True)}
    for delivery_id, spans in by_id.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end, f"{delivery_id} was attempted twice at the same time"
    assert all(r.problems == [] for r in received)


def test_two_workers_on_the_same_queues_share_the_work_without_overlap(tmp_path, organization, make_integration, receiver):
    # given: two worker processes (with their beats) consuming the same Redis queue
    broker_url = "redis://127.0.0.1:6379/12"
    redis.Redis.from_url(broker_url).flushdb()

    def slowish(received):
        time.sleep(0.05)
        return 200, b"", {}

    receiver.responder = slowish
    for index in range(12):  # more integrations than one worker has slots (8): both must drain
        make_integration(receiver.url, name=f"hook {index}")
    env = {"CELERY_BROKER_URL": broker_url, "CELERY_WORKER_PREFETCH_MULTIPLIER": "1"}
    workers = [WorkerProcess(tmp_path / f"worker{i}.log", **env).start() for i in range(2)]
    try:
        # when: 40 calls, 480 deliveries, saved from another process
        save_calls(organization, 40, "call", broker_url)
        # then
        assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 480, timeout=120)
    finally:
        for worker in workers:
            worker.stop()
    assert len({r.delivery_id for r in receiver.received}) == 480
    assert_each_delivered_never_twice_at_once(receiver.received)
    worked = [w.log_path.read_text().count("webhooks.tasks.drain") for w in workers]
    assert all(worked), f"drain tasks per worker: {worked}"


def test_a_dropped_database_connection_during_a_delivery_is_survived(celery_worker, organization, make_integration, receiver):
    # given: an endpoint that, while the worker waits for its answer, kills the worker's
    # PostgreSQL connections
    dsn = f"dbname={connection.settings_dict['NAME']} user=postgres host=127.0.0.1"
    killed = []

    def drop_worker_connections(received):
        with psycopg2.connect(dsn) as admin, admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'inboundflow-worker' AND datname = current_database()"
            )
            killed.append(len(cursor.fetchall()))
        admin.close()
        return 200, b"", {}

    receiver.responder = drop_worker_connections
    make_integration(receiver.url)
    # when
    completed_call(organization, caller_name="first")
    # then: the attempt is recorded once, not sent twice
    assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 1, timeout=30)
    assert killed and killed[0] >= 1
    assert Attempt.objects.count() == 1 and len(receiver.received) == 1
    # and the worker goes on working
    receiver.responder = always(200)
    completed_call(organization, caller_name="second")
    assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 2, timeout=30)


def _in_threads(count: int, work) -> list:
    """Run `work(index)` in `count` threads released together; each thread its own connection."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(index):
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_concurrent_failures_are_all_counted(settings, organization, make_integration, receiver):
    # given: 16 deliveries to one endpoint that fails slowly, so that they finish together
    settings.WEBHOOKS_RETRY_SCHEDULE = [0]
    settings.WEBHOOKS_DISABLE_AFTER = 1000

    def fail_slowly(received):
        time.sleep(0.2)
        return 500, b"", {}

    receiver.responder = fail_slowly
    hook = make_integration(receiver.url)
    for _ in range(16):
        completed_call(organization)
    ids = list(Delivery.objects.values_list("pk", flat=True))
    # when
    _in_threads(16, lambda i: services.delivery_attempt(delivery_id=ids[i]))
    # then: no lost update
    assert Integration.objects.get(pk=hook.pk).consecutive_failures == 16
    assert Delivery.objects.filter(status="failed").count() == 16


def test_the_same_call_saved_from_two_connections_emits_once(organization, make_integration, receiver):
    make_integration(receiver.url)
    for round_number in range(10):
        call = Call.objects.create(organization=organization, started_at=completed_call(organization).started_at)

        def complete(index, pk=call.pk):
            loaded = Call.objects.get(pk=pk)  # both load it in progress
            loaded.state, loaded.ended_at = Call.State.COMPLETED, loaded.started_at
            loaded.save()

        _in_threads(2, complete)
        assert Event.objects.filter(source_id=call.pk, event_type="call.completed").count() == 1, round_number
        assert Delivery.objects.filter(event__source_id=call.pk).count() == 1


def start_saving(organization, count: int, label: str, broker_url: str) -> subprocess.Popen:
    """Save calls from another process in the background, as the AI pipeline would."""
    env = {**os.environ, "CELERY_BROKER_URL": broker_url, "DATABASE_URL": worker_database_url(), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.save_calls", str(organization.pk), str(count), label],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _succeeded() -> int:
    return Delivery.objects.filter(status="succeeded").count()


def _assert_alive(worker: WorkerProcess) -> None:
    assert worker.process.poll() is None, (
        f"the worker exited with {worker.process.returncode}:\n{worker.log_path.read_text()[-3000:]}"
    )


@pytest.mark.parametrize(
    "how, down_for",
    [
        pytest.param(signal.SIGTERM, 5, id="stopped-5s"),
        pytest.param(signal.SIGKILL, 5, id="killed-5s"),
        pytest.param(signal.SIGTERM, 60, id="stopped-60s"),
        pytest.param(signal.SIGKILL, 60, id="killed-60s"),
    ],
)
def test_the_worker_survives_redis_going_away_mid_burst_and_idle(
    how, down_for, spare_redis, tmp_path, organization, make_integration, receiver
):
    # given: a worker on a Redis this test owns, two endpoints that take a little time, and a
    # burst of calls being saved by another process
    def busy(received):
        time.sleep(0.01)
        return 200, b"", {}

    receiver.responder = busy
    for index in range(2):
        make_integration(receiver.url, name=f"hook {index}")
    worker = WorkerProcess(tmp_path / "worker.log", CELERY_BROKER_URL=spare_redis.url).start()
    calls = 400
    saver = start_saving(organization, calls, "burst", spare_redis.url)
    try:
        assert wait_until(lambda: len(receiver.received) >= 100, timeout=60), "the burst did not start"
        # when: Redis goes away with hundreds of deliveries in flight or still to save
        in_flight = 2 * calls - len(receiver.received)
        spare_redis.stop(how)
        time.sleep(down_for)
        _assert_alive(worker)
        spare_redis.start()
        back_at = time.monotonic()
        assert saver.wait(timeout=120) == 0, saver.stderr.read()[-3000:]
        # then: the same worker, never restarted, drains everything within 30 s of Redis returning
        assert wait_until(lambda: _succeeded() == 2 * calls, timeout=max(5.0, back_at + 30 - time.monotonic())), (
            f"{_succeeded()} of {2 * calls} delivered 30 s after Redis came back "
            f"({in_flight} were in flight at the fault)\n{worker.log_path.read_text()[-3000:]}"
        )
        _assert_alive(worker)

        # when: Redis goes away again while the worker is idle, and comes back
        spare_redis.stop(how)
        time.sleep(min(down_for, 5))
        spare_redis.start()
        save_calls(organization, 3, "after", spare_redis.url)
        # then: new calls are delivered by the same worker
        assert wait_until(lambda: _succeeded() == 2 * calls + 6, timeout=30), worker.log_path.read_text()[-3000:]
        _assert_alive(worker)
    finally:
        if saver.poll() is None:
            saver.kill()
        worker.stop()
    assert Delivery.objects.count() == 2 * calls + 6
    assert_each_delivered_never_twice_at_once(receiver.received)
