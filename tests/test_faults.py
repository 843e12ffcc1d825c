"""Nothing lost under faults, with real processes: Redis stopped and restarted, a worker
SIGKILLed mid-delivery, PostgreSQL connections dropped, and concurrent writers."""
import signal
import threading
import time
from collections import defaultdict

import psycopg2
import pytest
import redis
from django.db import connection, connections

from inboundflow.models import Call
from webhooks import services
from webhooks.models import Attempt, Delivery, Event, Integration

from .conftest import WorkerProcess, completed_call, save_calls, save_durations, start_saving, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _succeeded() -> int:
    return Delivery.objects.filter(status="succeeded").count()


def _assert_alive(worker: WorkerProcess) -> None:
    assert worker.process.poll() is None, (
        f"the worker exited with {worker.process.returncode}:\n{worker.log_path.read_text()[-3000:]}"
    )


def test_a_worker_killed_mid_delivery_loses_nothing_and_never_overlaps(tmp_path, organization, make_integration, receiver):
    # given: a slow endpoint, a burst of 300 calls, and a worker that will be killed
    broker_url = "redis://127.0.0.1:6379/14"
    redis.Redis.from_url(broker_url).flushdb()
    env = {"CELERY_BROKER_URL": broker_url, "WEBHOOKS_TIMEOUT": "2", "WEBHOOKS_LEASE_SECONDS": "22"}

    def slow(received):
        time.sleep(0.1)
        return 200, b"", {}

    receiver.responder = slow
    make_integration(receiver.url)
    first = WorkerProcess(tmp_path / "first.log", **env).start()
    saver = start_saving(organization, 300, "call", broker_url)
    # when: SIGKILL with hundreds of deliveries still to go (16 of them in flight), then a new worker
    assert len(receiver.wait_for(60, timeout=60)) >= 60
    first.kill()
    assert 300 - len(receiver.received) >= 200
    save_durations(saver)
    second = WorkerProcess(tmp_path / "second.log", **env).start()
    try:
        # then: every delivery ends succeeded
        assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 300, timeout=120), (
            second.log_path.read_text()[-3000:]
        )
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
    problems = [(r.delivery_id, r.problems) for r in received if r.problems]
    assert problems == [], problems[:5]


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


def test_dropped_database_connections_mid_burst_are_survived(celery_worker, organization, make_integration, receiver):
    # given: 200 calls being delivered, and an endpoint that, while the worker waits for its 50th
    # answer, kills the worker's PostgreSQL connections
    dsn = f"dbname={connection.settings_dict['NAME']} user=postgres host=127.0.0.1"
    killed = []

    def drop_worker_connections(received):
        if len(receiver.received) == 50:
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
    for index in range(200):
        completed_call(organization, caller_name=f"call {index}")
    # then: every attempt is recorded once, none sent twice, and the worker went on working
    assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 200, timeout=90), (
        celery_worker.log_path.read_text()[-3000:]
    )
    assert killed and killed[0] >= 1
    assert Attempt.objects.count() == 200 and len(receiver.received) == 200
    assert_each_delivered_never_twice_at_once(receiver.received)


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
    # given: a worker on a Redis this test owns, with production's sweep timings and short drains
    # (so that drains must ring again, through Redis, during the outage), two endpoints that take
    # a little time, and a burst of calls being saved by another process
    def busy(received):
        time.sleep(0.2)
        return 200, b"", {}

    receiver.responder = busy
    for index in range(2):
        make_integration(receiver.url, name=f"hook {index}")
    worker = WorkerProcess(
        tmp_path / "worker.log", CELERY_BROKER_URL=spare_redis.url,
        WEBHOOKS_SWEEP_INTERVAL="5", WEBHOOKS_ENQUEUE_GRACE="30", WEBHOOKS_DRAIN_SECONDS="3",
    ).start()
    calls = 400
    saver_log = open(tmp_path / "saver.log", "wb")  # its warnings while Redis is away
    # 400 calls over at least 4 s: still saving when the fault lands, however fast the worker
    saver = start_saving(organization, calls, "burst", spare_redis.url, stderr=saver_log, pause=0.01)
    try:
        assert wait_until(lambda: len(receiver.received) >= 100, timeout=60), "the burst did not start"
        # when: Redis goes away with hundreds of deliveries in flight or still to save
        in_flight = 2 * calls - len(receiver.received)
        saving_during_the_outage = saver.poll() is None
        assert in_flight >= 200 and saving_during_the_outage, (in_flight, saving_during_the_outage)
        spare_redis.stop(how)
        time.sleep(down_for)
        _assert_alive(worker)
        spare_redis.start()
        back_at = time.monotonic()
        pending_at_return = 2 * calls - _succeeded()
        durations = save_durations(saver)
        assert max(durations) < 5, f"a save waited {max(durations):.1f} s on the broker"
        # then: the same worker, never restarted, drains everything within 30 s of Redis returning
        assert wait_until(lambda: _succeeded() == 2 * calls, timeout=max(5.0, back_at + 30 - time.monotonic())), (
            f"{_succeeded()} of {2 * calls} delivered 30 s after Redis came back "
            f"({in_flight} were in flight at the fault)\n{worker.log_path.read_text()[-3000:]}"
        )
        print(
            f"redis {how.name} {down_for} s: {in_flight} in flight, {pending_at_return} still pending when it came "
            f"back, all delivered {time.monotonic() - back_at:.1f} s later"
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
        saver_log.close()
        worker.stop()
    assert Delivery.objects.count() == 2 * calls + 6
    assert_each_delivered_never_twice_at_once(receiver.received)
