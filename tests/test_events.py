"""Payload builders against the documentation's field lists (names, order, types)."""
import datetime as dt
import re
import uuid

import pytest

from inboundflow.models import Appointment, Call, Lead
from webhooks.events import EventType, build_data, sample_data

# Copied from webhooks-doc.fr.txt, in its order; `transcript` is the contract's addition.
DOCUMENTED_FIELDS = {
    "call.completed": [
        "call_id", "caller_phone", "caller_name", "caller_email", "duration_seconds", "summary",
        "transcript", "intent", "urgency", "recording_url", "started_at", "ended_at",
    ],
    "call.transferred": [
        "call_id", "caller_phone", "caller_name", "duration_seconds", "summary",
        "transferred_to_label", "transferred_to_number", "urgency", "reason",
    ],
    "appointment.booked": [
        "call_id", "caller_phone", "caller_name", "appointment_date", "appointment_time_start",
        "appointment_time_end", "service_type", "calendar_event_id", "calendar_event_link",
    ],
    "lead.created": [
        "call_id", "caller_phone", "caller_name", "caller_email", "intent", "urgency", "interest",
        "call_summary",
    ],
}
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
START = dt.datetime(2026, 2, 24, 20, 59, tzinfo=dt.timezone.utc)


def _call(**fields) -> Call:
    values = dict(
        caller_phone="+1234567890", caller_name="Dave", caller_email="dave@example.com", started_at=START,
        ended_at=START + dt.timedelta(seconds=60), summary="Brakes.", transcript="AI: hi", intent="book appointment",
        urgency="medium", recording_url="https://rec.example.com/1.mp3", transferred_at=START + dt.timedelta(seconds=47),
        transferred_to_label="Manager", transferred_to_number="+18154264329", transfer_reason="Pricing",
    )
    values.update(fields)
    return Call(**values)


def _source(event_type: str, call: Call):
    if event_type == EventType.APPOINTMENT_BOOKED:
        return Appointment(
            call=call, appointment_date=dt.date(2026, 2, 25), time_start=dt.datetime(2026, 2, 25, 11, tzinfo=dt.timezone.utc),
            time_end=dt.datetime(2026, 2, 25, 12, tzinfo=dt.timezone.utc), service_type="Auto Repair Appointment",
            calendar_event_id="google_event_id", calendar_event_link="https://calendar.google.com/x",
        )
    if event_type == EventType.LEAD_CREATED:
        return Lead(call=call, caller_phone="+1234567890", caller_name="Dave", caller_email="dave@example.com",
                    intent="pricing inquiry", urgency="high", interest="auto body work")
    return call


@pytest.mark.parametrize("event_type", EventType.values)
def test_fields_are_exactly_the_documented_ones_in_order(event_type):
    data = build_data(event_type, _source(event_type, _call()))
    assert list(data) == DOCUMENTED_FIELDS[event_type]


@pytest.mark.parametrize("event_type", EventType.values)
def test_types_follow_the_contract(event_type):
    data = build_data(event_type, _source(event_type, _call()))
    uuid.UUID(data["call_id"])
    if "duration_seconds" in data:
        assert type(data["duration_seconds"]) is int
    if "urgency" in data:
        assert data["urgency"] in ("low", "medium", "high")
    for key in ("started_at", "ended_at", "appointment_time_start", "appointment_time_end"):
        if key in data:
            assert INSTANT.match(data[key]), (key, data[key])
    if "appointment_date" in data:
        assert re.match(r"^\d{4}-\d\d-\d\d$", data["appointment_date"])


def test_call_completed_values():
    call = _call()
    data = build_data("call.completed", call)
    assert data["duration_seconds"] == 60
    assert data["started_at"] == "2026-02-24T20:59:00Z"
    assert data["ended_at"] == "2026-02-24T21:00:00Z"
    assert data["transcript"] == "AI: hi"
    assert data["call_id"] == str(call.id)


def test_call_transferred_values():
    data = build_data("call.transferred", _call(duration_seconds=None, ended_at=None))
    assert data["duration_seconds"] == 47  # measured to the transfer
    assert data["transferred_to_label"] == "Manager"
    assert data["reason"] == "Pricing"


def test_lead_takes_the_summary_of_its_call():
    call = _call(summary="Quote for a bumper.")
    assert build_data("lead.created", _source("lead.created", call))["call_summary"] == "Quote for a bumper."


@pytest.mark.parametrize("event_type", EventType.values)
def test_values_not_produced_are_null_never_missing(event_type):
    bare = Call(started_at=START)
    source = _source(event_type, bare)
    if event_type == "lead.created":
        source = Lead(call=bare)
    data = build_data(event_type, source)
    assert list(data) == DOCUMENTED_FIELDS[event_type]
    assert data["caller_name"] is None and data["caller_phone"] is None


@pytest.mark.parametrize("event_type", EventType.values)
def test_samples_have_the_documented_shape(event_type):
    assert list(sample_data(event_type)) == DOCUMENTED_FIELDS[event_type]
