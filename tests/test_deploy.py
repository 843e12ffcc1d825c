"""What runs the product in production: supervision restarts every long-running process, and
workers never start on a schema that is not migrated yet."""
import configparser
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import yaml
from django.conf import settings

from .conftest import ROOT

LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")


def test_compose_restarts_every_long_running_service_and_migrates_first():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name


@pytest.mark.parametrize("unit", ["web", "worker", "beat"])
def test_systemd_units_restart_whatever_ends_them(unit):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(ROOT / "deploy" / "systemd" / f"inboundflow-{unit}.service")
    assert parser["Service"]["Restart"] == "always"
    if unit != "web":
        assert parser["Service"]["ExecStartPre"].endswith("scripts/wait-for-migrations")


def test_the_image_leaves_out_local_state_and_test_tooling():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "db.sqlite3"} <= ignored
    installs = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in installs and "requirements-test.lock" not in installs
    assert "pytest" not in (ROOT / "requirements.lock").read_text()


@pytest.fixture
def empty_database():
    db = settings.DATABASES["default"]
    name = "inboundflow_unmigrated"
    admin = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    yield f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _wait_for_migrations(database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "WAIT_FOR_MIGRATIONS_SECONDS": "3",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([str(ROOT / "scripts" / "wait-for-migrations")], env=env, capture_output=True, text=True, timeout=120)


def test_workers_wait_for_migrations(empty_database):
    # given: a database nobody has migrated: the wait gives up, saying so
    waited = _wait_for_migrations(empty_database)
    assert waited.returncode == 1 and "migrations are still not applied" in waited.stderr
    # when: it is migrated, the wait ends at once
    env = {**os.environ, "DATABASE_URL": empty_database}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=120)
    assert _wait_for_migrations(empty_database).returncode == 0


# The production settings the README's "Production" section documents, nothing else.
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a-production-key-of-fifty-characters-or-more-0123456789abcdefghij",
    "DJANGO_ALLOWED_HOSTS": "hooks.example.com",
    "DJANGO_HTTPS": "true",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "WEBHOOKS_SECRET_KEYS": "4XcFFIhkkXyPon2wUNpWqGqcmP2hLXP6aHdy__aRjX8=",
    "WEBHOOKS_PUBLIC_URL": "https://hooks.example.com",
}


def _check_deploy(**env_overrides) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "WEBHOOKS_"))}
    env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE="inboundflow.settings", **env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_in_production_settings():
    checked = _check_deploy()
    assert checked.returncode == 0, checked.stderr
    assert "System check identified no issues" in checked.stdout


def test_check_deploy_says_what_plain_http_leaves_open():
    checked = _check_deploy(DJANGO_HTTPS="false")
    assert checked.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in checked.stderr


def test_compose_checks_readiness_of_the_web_service():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])


@pytest.mark.parametrize(
    ("slots", "lease", "refused"),
    [(2, 60, False), (2, 40, True), (1, 40, False), (1, 29, True)],
)
def test_the_lease_must_outlast_a_batch_waiting_then_sent_in_turns(settings, slots, lease, refused):
    # two slots: a claimed batch waits for the one on the wire (two turns of 10 s), then takes
    # its own two turns: 50 s; one slot: one turn each, and never less than TIMEOUT + 20
    from webhooks.checks import webhook_settings_check

    settings.WEBHOOKS_DRAIN_SLOTS, settings.WEBHOOKS_LEASE_SECONDS, settings.WEBHOOKS_TIMEOUT = slots, lease, 10.0
    refusals = [error.msg for error in webhook_settings_check(None) if error.id == "webhooks.E002"]
    assert bool(refusals) is refused
    if refused:
        assert f"at least {50 if slots == 2 else 30} s" in refusals[0]
