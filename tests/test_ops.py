"""Operations (issue 12): /metrics after known traffic, its protection, /healthz and /readyz —
the counts against real PostgreSQL and a real receiver, readiness against a real web process,
a real Redis that goes away and a real worker whose sweeps stop."""
import os
from collections import Counter
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from inboundflow.models import Call
from webhooks import engine, services
from webhooks.devtools.receiver import Receiver, always
from webhooks.models import Attempt, Delivery, MetricCount

from .conftest import ROOT, WorkerProcess, completed_call, delivered_by_two_workers, wait_until, worker_database_url
from .helpers.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-token-for-tests"


def scrape(client=None, **headers) -> dict:
    """{(metric sample name, frozen labels): value} from /metrics."""
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


# --- Protection -----------------------------------------------------------------------------


def test_metrics_are_closed_when_nothing_opens_them(settings):
    settings.WEBHOOKS_METRICS_TOKEN, settings.WEBHOOKS_METRICS_NETWORKS = "", []
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 404
    assert "WEBHOOKS_METRICS_TOKEN" in response.content.decode()


def test_metrics_want_the_token(settings):
    settings.WEBHOOKS_METRICS_TOKEN, settings.WEBHOOKS_METRICS_NETWORKS = TOKEN, []
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}):
        refused = Client().get("/metrics", **headers)
        assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
        assert b"webhooks_" not in refused.content
    assert scrape()  # with it


def test_metrics_want_an_allowed_address_and_the_token_when_both_are_set(settings):
    settings.WEBHOOKS_METRICS_TOKEN, settings.WEBHOOKS_METRICS_NETWORKS = TOKEN, ["10.0.0.0/8", "::1"]
    outside = Client(REMOTE_ADDR="192.168.1.5").get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert outside.status_code == 403
    inside_without_token = Client(REMOTE_ADDR="10.1.2.3").get("/metrics")
    assert inside_without_token.status_code == 401
    assert scrape(Client(REMOTE_ADDR="10.1.2.3"))
    assert scrape(Client(REMOTE_ADDR="::1"))
    settings.WEBHOOKS_METRICS_TOKEN = ""  # a network alone is enough when no token is set
    assert Client(REMOTE_ADDR="10.9.9.9").get("/metrics").status_code == 200


def test_probes_answer_on_any_host_name_and_over_plain_http(settings):
    settings.ALLOWED_HOSTS, settings.SECURE_SSL_REDIRECT = ["hooks.example.com"], True
    client = Client(HTTP_HOST="10.0.3.7:8000")
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.post("/healthz").status_code == 405
    assert client.get("/settings/integrations/").status_code == 400  # the rest still checks the host


# --- Counting -------------------------------------------------------------------------------


@pytest.fixture
def failing_receiver():
    with Receiver(secret="s3cret") as running:
        running.responder = always(500)
        yield running


def test_metrics_count_known_traffic(settings, organization, make_integration, receiver, failing_receiver, no_broker):
    # given: a hook that answers 200, one that answers 500 (one attempt each: then failed), a
    # disabled one, and five completed calls, delivered by the engine itself
    settings.WEBHOOKS_METRICS_TOKEN, settings.WEBHOOKS_RETRY_SCHEDULE = TOKEN, [0.0]
    ok = make_integration(receiver.url, name="ok")
    failing = make_integration(failing_receiver.url, name="failing")
    services.integration_disable(integration=make_integration(receiver.url, name="disabled"), by="owner")
    for _ in range(5):
        completed_call(organization)
    assert engine.drain(integration_id=ok.id) == 5
    assert engine.drain(integration_id=failing.id) == 5
    services.integration_send_test(integration=ok)  # a test: an attempt, not a delivery
    # and: three more calls nobody has delivered yet (the backlog)
    for _ in range(3):
        completed_call(organization, caller_name="Later")
    # when
    samples = scrape()
    # then: what happened, as the database recorded it
    assert value(samples, "webhooks_deliveries_total", event_type="call.completed", outcome="succeeded") == 5
    assert value(samples, "webhooks_deliveries_total", event_type="call.completed", outcome="failed") == 5
    assert value(samples, "webhooks_attempts_total", error_class="none") == 6
    assert value(samples, "webhooks_attempts_total", error_class="http") == 5
    assert value(samples, "webhooks_attempt_duration_seconds_count") == 11 == Attempt.objects.count()
    assert value(samples, "webhooks_attempt_duration_seconds_bucket", le="+Inf") == 11
    durations = sum(Attempt.objects.values_list("duration_ms", flat=True)) / 1000
    assert value(samples, "webhooks_attempt_duration_seconds_sum") == pytest.approx(durations)
    assert value(samples, "webhooks_due_deliveries") == 6 == Delivery.objects.filter(status="pending").count()
    assert 0 <= value(samples, "webhooks_oldest_due_delivery_age_seconds") < 60
    assert value(samples, "webhooks_held_deliveries") == 8  # 5 + 3 for the disabled hook
    assert value(samples, "webhooks_disabled_integrations") == 1


def test_sweeps_are_counted_and_dated(settings, organization, make_integration, receiver, no_broker):
    settings.WEBHOOKS_METRICS_TOKEN = TOKEN
    make_integration(receiver.url)
    completed_call(organization)
    Delivery.objects.update(enqueued_at=None)  # a ring that was lost: the sweep finds it
    before = time.time()
    assert engine.sweep() == 1
    assert engine.sweep() == 0  # enqueued by the first one now
    samples = scrape()
    assert value(samples, "webhooks_sweep_runs_total") == 2
    assert value(samples, "webhooks_sweep_found_total") == 1
    assert before <= value(samples, "webhooks_sweep_last_run_timestamp_seconds") <= time.time()


@pytest.mark.integration
def test_metrics_sum_what_two_worker_processes_recorded(settings, tmp_path, organization, make_integration, receiver):
    # given: two worker processes sharing four hooks' deliveries
    settings.WEBHOOKS_METRICS_TOKEN = TOKEN
    for index in range(4):
        make_integration(receiver.url, name=f"hook {index}", events=["call.completed"])
    # when: 60 calls are saved by another process, as the AI pipeline would save them
    delivered_by_two_workers(tmp_path, organization, calls=60, deliveries=240, label="metrics")
    # then: the counters add up to what the database holds
    samples = scrape()
    assert value(samples, "webhooks_deliveries_total", event_type="call.completed", outcome="succeeded") == 240
    by_class = Counter(error_class or "none" for error_class in Attempt.objects.values_list("error_class", flat=True))
    assert by_class["none"] == 240  # and any retry on the way is counted under its own class
    for error_class, attempts in by_class.items():
        assert value(samples, "webhooks_attempts_total", error_class=error_class) == attempts
    assert value(samples, "webhooks_attempt_duration_seconds_count") == Attempt.objects.count()
    assert MetricCount.objects.filter(name="attempts_total").values("shard").distinct().count() >= 1
    assert Call.objects.count() == 60


# --- Readiness ------------------------------------------------------------------------------


class WebProcess:
    """The web service as production starts it (gunicorn), on a spare port."""

    def __init__(self, log_path, **env_overrides):
        self.port = free_port()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "inboundflow.settings_test", "DATABASE_URL": worker_database_url()}
        env.update(env_overrides)
        self.log = open(log_path, "ab")
        self.log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "inboundflow.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        if not wait_until(lambda: self.get("/healthz")[0] == 200 or self.process.poll() is not None, timeout=30) or self.process.poll() is not None:
            raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()[-3000:]}")

    def get(self, path: str) -> tuple[int, str]:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return 0, ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.log.close()


@pytest.mark.integration
def test_readiness_follows_the_database_the_broker_and_the_sweeps(tmp_path, spare_redis):
    env = {"CELERY_BROKER_URL": spare_redis.url, "WEBHOOKS_READY_SWEEP_AGE": "3"}
    web = WebProcess(tmp_path / "web.log", **env)
    worker = None
    try:
        # given: no sweep has ever run: not ready, and it says why
        status, body = web.get("/readyz")
        assert status == 503 and "never ran" in body
        # when: a worker with its beat runs: ready once it has swept
        worker = WorkerProcess(tmp_path / "worker.log", **env).start()
        assert wait_until(lambda: web.get("/readyz")[0] == 200, timeout=30), web.get("/readyz")
        # when: Redis dies: not ready within seconds, saying the broker is the cause
        spare_redis.stop()
        assert wait_until(lambda: web.get("/readyz")[0] == 503, timeout=15)
        status, body = web.get("/readyz")
        assert '"broker": "unreachable' in body and '"database": "ok"' in body
        assert spare_redis.url not in body
        assert web.get("/healthz")[0] == 200  # the process itself is fine
        # when: Redis is back: ready again
        spare_redis.start()
        assert wait_until(lambda: web.get("/readyz")[0] == 200, timeout=30), web.get("/readyz")
        # when: the worker (and its beat) stops: not ready once no sweep ran for 3 s
        worker.stop()
        assert wait_until(lambda: web.get("/readyz")[0] == 503, timeout=15)
        assert "is beat running" in web.get("/readyz")[1]
    finally:
        if worker:
            worker.stop()
        web.stop()


@pytest.mark.integration
def test_without_its_database_the_web_process_is_alive_but_not_ready_and_says_why(tmp_path):
    # given: a web process whose database address leads nowhere (a database that is down)
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/inboundflow"
    web = WebProcess(tmp_path / "web.log", DATABASE_URL=nowhere, WEBHOOKS_METRICS_TOKEN=TOKEN)
    try:
        assert web.get("/healthz")[0] == 200
        status, body = web.get("/readyz")
        assert status == 503 and '"database": "unreachable (OperationalError)"' in body
        assert "not checked: no database" in body
        request = urllib.request.Request(
            f"http://127.0.0.1:{web.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 503
        assert "database is unreachable" in refused.value.read().decode()
    finally:
        web.stop()
