"""The embedded default (`make run` without PostgreSQL or Redis: SQLite, and a broker in files)
emits through its own SQL path (two INSERTs, no CTE): the same rows, once, as on PostgreSQL."""
import os
import subprocess
import sys

from .conftest import ROOT

SCRIPT = """
import datetime as dt
from django.utils import timezone
from inboundflow.models import Call, Organization
from webhooks.models import Delivery, Event, Integration

organization = Organization.objects.create(name="Embedded")
active = Integration.objects.create(organization=organization, name="on", target_url="https://example.com/a",
                                    event_types=["call.completed"])
off = Integration.objects.create(organization=organization, name="off", target_url="https://example.com/b",
                                 event_types=["call.completed"], state="disabled", disabled_at=timezone.now())
Integration.objects.create(organization=organization, name="leads", target_url="https://example.com/c",
                           event_types=["lead.created"])
now = timezone.now()
call = Call.objects.create(organization=organization, state=Call.State.COMPLETED, caller_name="Zoë",
                           started_at=now - dt.timedelta(seconds=30), ended_at=now, summary="Embedded.")
call.summary = "Saved again."
call.save()
print(sorted((e.event_type, str(e.source_id) == str(call.id)) for e in Event.objects.all()))
print(sorted((d.integration.name, d.status) for d in Delivery.objects.all()))
"""


def test_a_save_on_the_embedded_default_writes_the_event_once_with_its_deliveries(tmp_path):
    env = {
        **os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "CELERY_BROKER_URL": "memory://",  # rings stay in this process
        "DJANGO_SECRET_KEY": "embedded-test", "DJANGO_SETTINGS_MODULE": "inboundflow.settings",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    events, deliveries = done.stdout.strip().splitlines()[-2:]
    assert events == "[('call.completed', True)]"
    assert deliveries == "[('off', 'held'), ('on', 'pending')]"
