"""The hot paths' plain SQL sends what the ORM would: values passed as they are only where the
field's own preparation would return them unchanged."""
import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from webhooks import rows
from webhooks.models import Attempt, Delivery, Event, Integration

pytestmark = pytest.mark.django_db


def _as_orm_prepares(model, names, instances):
    fields = [model._meta.get_field(name) for name in names]
    return [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in instances for f in fields]


def test_values_are_those_the_fields_prepare(organization):
    now = timezone.now()
    event = Event(organization=organization, event_type="call.completed", occurred_at=now, data='{"a":1}', source_id=uuid.uuid4())
    deliveries = [
        Delivery(event=event, integration_id=uuid.uuid4(), next_attempt_at=now, enqueued_at=now, created_at=now),
        Delivery(event=event, integration_id=uuid.uuid4(), status=Delivery.Status.HELD, created_at=now),
    ]
    attempts = [
        Attempt(delivery=deliveries[0], number=1, started_at=now, duration_ms=12, succeeded=True, status_code=200,
                error_class="", error_message="", response_excerpt="ok", request_timestamp=1, signature="sha256=ab"),
        Attempt(delivery=deliveries[1], number=2, started_at=now, duration_ms=0, succeeded=False, status_code=None,
                error_class=Attempt.ErrorClass.HTTP, error_message="é" * 3, response_excerpt="", request_timestamp=2,
                signature=""),
    ]
    naive = Integration(organization=organization, name="n", target_url="https://example.com/h", secret="s",
                        event_types=["call.completed"], last_success_at=dt.datetime(2026, 1, 1, 12, 0))
    cases = [
        (Event, ("id", "organization_id", "event_type", "occurred_at", "data", "source_id", "is_test"), [event]),
        (Delivery, ("id", "event_id", "integration_id", "status", "attempts", "next_attempt_at", "created_at"), deliveries),
        (Attempt, ("delivery_id", "number", "started_at", "duration_ms", "succeeded", "status_code", "error_class",
                   "error_message", "response_excerpt", "request_timestamp", "signature"), attempts),
        (Integration, ("id", "event_types", "secret", "last_success_at"), [naive]),
    ]
    for model, names, instances in cases:
        _, values = rows.values_sql(model, names, instances)
        expected = _as_orm_prepares(model, names, instances)
        assert [type(v) for v in values] == [type(v) for v in expected], model
        if "secret" in names:  # encrypted, with a fresh nonce each time: never the plain text
            at = names.index("secret")
            assert values[at] != "s" and expected[at] != "s"
            values[at] = expected[at] = None
        assert [str(v) for v in values] == [str(v) for v in expected], model
