"""The four event types and the `data` object of each, exactly as the documentation lists it.

Builders are pure: they read a model instance and return a dict whose keys are in the
documentation's order. A value the call did not produce is None (JSON null), never a missing
key; instants are ISO 8601 UTC with `Z`, dates `YYYY-MM-DD`.
"""
import datetime as dt
import uuid
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    CALL_COMPLETED = "call.completed", _("Call completed")
    CALL_TRANSFERRED = "call.transferred", _("Call transferred to a human")
    APPOINTMENT_BOOKED = "appointment.booked", _("Appointment booked")
    LEAD_CREATED = "lead.created", _("Lead created")


def in_catalogue_order(event_types) -> list[str]:
    """The chosen types in the documentation's order: how every integration keeps them, so that
    equal sets are equal lists."""
    chosen = set(event_types)
    return [value for value in EventType.values if value in chosen]


def format_instant(value: dt.datetime | None) -> str | None:
    """`2026-02-24T20:59:00Z`: UTC, second precision, as in the documentation's examples."""
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_timestamp(value: dt.datetime) -> str:
    """`2026-02-24T21:00:00.000Z`: the envelope's timestamp, UTC with milliseconds."""
    utc = value.astimezone(dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _text(value: str | None) -> str | None:
    return value or None


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def call_completed_data(call) -> dict[str, Any]:
    return {
        "call_id": _id(call.id),
        "caller_phone": _text(call.caller_phone),
        "caller_name": _text(call.caller_name),
        "caller_email": _text(call.caller_email),
        "duration_seconds": call.elapsed_seconds(),
        "summary": _text(call.summary),
        "transcript": _text(call.transcript),
        "intent": _text(call.intent),
        "urgency": _text(call.urgency),
        "recording_url": _text(call.recording_url),
        "started_at": format_instant(call.started_at),
        "ended_at": format_instant(call.ended_at),
    }


def call_transferred_data(call) -> dict[str, Any]:
    return {
        "call_id": _id(call.id),
        "caller_phone": _text(call.caller_phone),
        "caller_name": _text(call.caller_name),
        "duration_seconds": call.elapsed_seconds(),
        "summary": _text(call.summary),
        "transferred_to_label": _text(call.transferred_to_label),
        "transferred_to_number": _text(call.transferred_to_number),
        "urgency": _text(call.urgency),
        "reason": _text(call.transfer_reason),
    }


def appointment_booked_data(appointment) -> dict[str, Any]:
    call = appointment.call
    return {
        "call_id": _id(appointment.call_id),
        "caller_phone": _text(call.caller_phone),
        "caller_name": _text(call.caller_name),
        "appointment_date": appointment.appointment_date.isoformat(),
        "appointment_time_start": format_instant(appointment.time_start),
        "appointment_time_end": format_instant(appointment.time_end),
        "service_type": _text(appointment.service_type),
        "calendar_event_id": _text(appointment.calendar_event_id),
        "calendar_event_link": _text(appointment.calendar_event_link),
    }


def lead_created_data(lead) -> dict[str, Any]:
    return {
        "call_id": _id(lead.call_id),
        "caller_phone": _text(lead.caller_phone),
        "caller_name": _text(lead.caller_name),
        "caller_email": _text(lead.caller_email),
        "intent": _text(lead.intent),
        "urgency": _text(lead.urgency),
        "interest": _text(lead.interest),
        "call_summary": _text(lead.call.summary),
    }


BUILDERS = {
    EventType.CALL_COMPLETED: call_completed_data,
    EventType.CALL_TRANSFERRED: call_transferred_data,
    EventType.APPOINTMENT_BOOKED: appointment_booked_data,
    EventType.LEAD_CREATED: lead_created_data,
}


def build_data(event_type: str, source) -> dict[str, Any]:
    return BUILDERS[EventType(event_type)](source)


def sample_data(event_type: str) -> dict[str, Any]:
    """What "Test webhook" sends: the documentation's example, with a fresh call id."""
    from inboundflow.models import Appointment, Call, Lead

    start = dt.datetime(2026, 2, 24, 20, 59, tzinfo=dt.timezone.utc)
    call = Call(
        caller_phone="+1234567890",
        caller_name="Dave",
        caller_email="dave@example.com",
        started_at=start,
        ended_at=start + dt.timedelta(seconds=55),
        transferred_at=start + dt.timedelta(seconds=47),
        summary="Test notification from InboundFlow: this is a sample call.",
        transcript="AI: Thanks for calling! How can I help?\nCaller: This is a test.",
        intent="book appointment",
        urgency="medium",
        recording_url="https://example.com/recordings/sample.mp3",
        transferred_to_label="Manager",
        transferred_to_number="+18154264329",
        transfer_reason="Sample transfer",
    )
    if event_type == EventType.APPOINTMENT_BOOKED:
        return appointment_booked_data(
            Appointment(
                call=call,
                appointment_date=dt.date(2026, 2, 25),
                time_start=dt.datetime(2026, 2, 25, 11, tzinfo=dt.timezone.utc),
                time_end=dt.datetime(2026, 2, 25, 12, tzinfo=dt.timezone.utc),
                service_type="Auto Repair Appointment",
                calendar_event_id="sample_event_id",
                calendar_event_link="https://calendar.google.com/",
            )
        )
    if event_type == EventType.LEAD_CREATED:
        return lead_created_data(
            Lead(
                call=call,
                caller_phone=call.caller_phone,
                caller_name=call.caller_name,
                caller_email=call.caller_email,
                intent="pricing inquiry",
                urgency="high",
                interest="auto body work",
            )
        )
    return build_data(event_type, call)
