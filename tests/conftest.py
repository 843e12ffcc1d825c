"""Shared fixtures: organizations, integrations, loopback receivers, and a real Celery worker."""
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import redis
from playwright.sync_api import sync_playwright
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone, translation
from rest_framework.test import APIClient

from inboundflow.models import Call, Organization, User
from webhooks.devtools.receiver import Receiver
from webhooks.events import EventType
from webhooks.models import Delivery, Integration

from .helpers.servers import RedisServer
from .helpers.smtp import SMTPInbox

ROOT = Path(__file__).resolve().parent.parent
ALL_EVENTS = list(EventType.values)


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the default language: a request served by Django's test client
    leaves its language active in this thread (LocaleMiddleware never deactivates it)."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def organization(db):
    return Organization.objects.create(name="Main Street Auto")


@pytest.fixture
def other_organization(db):
    return Organization.objects.create(name="Rival Garage")


@pytest.fixture
def user(organization):
    return User.objects.create_user("owner", password="pw-owner-123", organization=organization)


@pytest.fixture
def make_integration(organization):
    def make(url: str, *, secret: str = "s3cret", events=None, organization=organization, **fields) -> Integration:
        return Integration.objects.create(
            organization=organization,
            name=fields.pop("name", "Test hook"),
            kind=fields.pop("kind", Integration.Kind.CUSTOM),
            target_url=url,
            secret=secret,
            event_types=list(events or ALL_EVENTS),
            **fields,
        )

    return make


@pytest.fixture
def no_broker(settings):
    """Record what would be published instead of publishing (the worker tests publish for real)."""
    settings.WEBHOOKS_RING_IN_BACKGROUND = False  # so that the publish is seen at commit
    with mock.patch("webhooks.tasks.drain.apply_async") as apply_async, \
            mock.patch("webhooks.engine.doorbell.ring", return_value=True):
        yield apply_async


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium(monkeypatch):
    # Playwright's sync API keeps an event loop on this thread; the ORM calls made by the test
    # itself are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if CHROMIUM is None:
        pytest.fail("Chromium is needed for the browser tests (scripts/test-deps installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        yield browser
        # ORM calls made while Playwright's loop runs get their own connection: close it.
        connections.close_all()
        browser.close()


@pytest.fixture
def page(chromium):
    """A browser whose person reads English (Accept-Language: en-US)."""
    return chromium.new_context(locale="en-US").new_page()


@pytest.fixture
def page_fr(chromium):
    """A browser whose person reads French (Accept-Language: fr-FR)."""
    return chromium.new_context(locale="fr-FR").new_page()


@pytest.fixture
def smtp():
    """A real SMTP server this test starts on 127.0.0.1."""
    inbox = SMTPInbox()
    inbox.controller.start()
    yield inbox
    inbox.controller.stop()


@pytest.fixture
def receiver():
    with Receiver(secret="s3cret") as running:
        yield running


def completed_call(organization, **fields) -> Call:
    start = timezone.now() - dt.timedelta(seconds=55)
    values = dict(
        organization=organization,
        state=Call.State.COMPLETED,
        caller_phone="+1234567890",
        caller_name="Dave",
        caller_email="dave@example.com",
        started_at=start,
        ended_at=start + dt.timedelta(seconds=55),
        summary="Called about auto repair appointment.",
        transcript="AI: Hello!\nCaller: Hi.",
        intent="book appointment",
        urgency="medium",
    )
    values.update(fields)
    return Call.objects.create(**values)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; return its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


class WorkerProcess:
    """`celery worker -B` as production starts it, against the test database and a Redis."""

    def __init__(self, log_path: Path, **env_overrides: str):
        self.log_path = log_path
        self.env_overrides = env_overrides
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "inboundflow.settings_test", "DATABASE_URL": worker_database_url()}
        env.update(self.env_overrides)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "inboundflow", "worker", "-B",
                "--schedule", str(self.log_path.with_suffix(f".{time.monotonic_ns()}.schedule")),
                "--pool", "threads", "--concurrency", "8", "--loglevel", "INFO",
                "--without-mingle", "--without-gossip",
            ],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        started = self.log_path.read_bytes().count(b" ready.")
        wait_until(
            lambda: self.log_path.read_bytes().count(b" ready.") > started or self.process.poll() is not None,
            timeout=60,
        )
        if self.log_path.read_bytes().count(b" ready.") <= started:
            raise RuntimeError(f"worker did not start (exit code {self.process.poll()}):\n{self.log_path.read_text()[-3000:]}")
        return self

    def kill(self) -> None:
        """SIGKILL the worker, as a crash or an OOM kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if not self.log.closed:
            self.log.close()


def worker_database_url(**query: str) -> str:
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}"
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def start_saving(organization, count: int, label: str, broker_url: str, stderr=subprocess.PIPE, pause: float = 0.0) -> subprocess.Popen:
    """Save calls from another process that publishes to `broker_url`, as the AI pipeline would,
    `pause` seconds apart. It prints how long each save took, as JSON, when it is done."""
    env = {**os.environ, "CELERY_BROKER_URL": broker_url, "DATABASE_URL": worker_database_url(), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.save_calls", str(organization.pk), str(count), label, str(pause)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )


def save_durations(saver: subprocess.Popen) -> list[float]:
    out, err = saver.communicate(timeout=120)
    assert saver.returncode == 0, (err or "")[-3000:]
    return json.loads(out.strip().splitlines()[-1])["durations"]


def save_calls(organization, count: int, label: str, broker_url: str) -> list[float]:
    return save_durations(start_saving(organization, count, label, broker_url))


def delivered_by_two_workers(tmp_path, organization, *, calls: int, deliveries: int, label: str, **env) -> None:
    """Two worker processes (Redis db 14, `env` added to theirs) deliver what another process
    saves, `calls` calls making `deliveries` deliveries; both must have sent some, or a test
    about sharing would prove less than it says."""
    broker_url = "redis://127.0.0.1:6379/14"
    redis.Redis.from_url(broker_url).flushdb()
    workers = [WorkerProcess(tmp_path / f"worker-{n}.log", CELERY_BROKER_URL=broker_url, **env).start() for n in range(2)]
    try:
        save_calls(organization, calls, label, broker_url)
        done = wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == deliveries, timeout=90)
        assert done, "".join(worker.log_path.read_text()[-2000:] for worker in workers)
    finally:
        for worker in workers:
            worker.stop()
    for worker in workers:
        assert "attempt 1" in worker.log_path.read_text(), "one worker sent nothing: the test proves less"


@pytest.fixture
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real worker (with its embedded beat) for one test: nothing leaks between tests."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()  # the tests' own Redis database: start with no stale messages
    worker = WorkerProcess(
        tmp_path_factory.mktemp("worker") / "worker.log",
        DATABASE_URL=worker_database_url(application_name="inboundflow-worker"),
    )
    with django_db_blocker.unblock():
        worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def spare_redis(tmp_path):
    """A redis-server of the test's own, on a spare port: stop it, start it again."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()
