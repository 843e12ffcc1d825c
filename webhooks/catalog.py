"""The event catalog, for the people and platforms that map our fields: what each event type
means (the documentation's table, in French and English), the JSON Schema (draft 2020-12) of the
body we deliver, and the documentation's example body.

The schema says what `payloads.delivery_body` builds: the documented fields, always present
(null when the call did not produce a value), plus the optional ones a body carries only when
it had to be cut to fit 100 KB (`<field>_truncated`, `full_text_url`). Formats (uuid,
date-time, uri) are annotations, as draft 2020-12 makes them by default, so the documentation's
examples — whose ids read "uuid" — validate too; our own bodies are also checked against them.
"""
import copy
from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from .events import EventType
from .payloads import TRUNCATABLE

DESCRIPTIONS = {
    EventType.CALL_COMPLETED: (
        _("Every completed call"),
        _("Fires after a call ends, with the summary, transcript and caller details"),
    ),
    EventType.CALL_TRANSFERRED: (
        _("Call transferred to a human"),
        _("Fires when the AI transfers a call to a configured destination"),
    ),
    EventType.APPOINTMENT_BOOKED: (
        _("Calendar booking made"),
        _("Fires when the AI books an appointment during a call"),
    ),
    EventType.LEAD_CREATED: (
        _("New lead captured"),
        _("Fires when a new lead is created from a call"),
    ),
}

_UUID = {"type": "string", "format": "uuid"}
_TEXT = {"type": ["string", "null"]}
_INSTANT = {"type": ["string", "null"], "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}
_SECONDS = {"type": ["integer", "null"], "minimum": 0}
_URGENCY = {"enum": ["low", "medium", "high", None]}
_URL = {"type": ["string", "null"]}  # as the call recorded it; ours to pass on, not to judge

# Each type's documented `data` fields, in the documentation's order, and their schemas.
FIELDS: dict[str, dict[str, dict]] = {
    EventType.CALL_COMPLETED: {
        "call_id": _UUID, "caller_phone": _TEXT, "caller_name": _TEXT, "caller_email": _TEXT,
        "duration_seconds": _SECONDS, "summary": _TEXT, "transcript": _TEXT, "intent": _TEXT,
        "urgency": _URGENCY, "recording_url": _URL, "started_at": _INSTANT, "ended_at": _INSTANT,
    },
    EventType.CALL_TRANSFERRED: {
        "call_id": _UUID, "caller_phone": _TEXT, "caller_name": _TEXT, "duration_seconds": _SECONDS,
        "summary": _TEXT, "transferred_to_label": _TEXT, "transferred_to_number": _TEXT,
        "urgency": _URGENCY, "reason": _TEXT,
    },
    EventType.APPOINTMENT_BOOKED: {
        "call_id": _UUID, "caller_phone": _TEXT, "caller_name": _TEXT,
        "appointment_date": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "appointment_time_start": _INSTANT, "appointment_time_end": _INSTANT, "service_type": _TEXT,
        "calendar_event_id": _TEXT, "calendar_event_link": _URL,
    },
    EventType.LEAD_CREATED: {
        "call_id": _UUID, "caller_phone": _TEXT, "caller_name": _TEXT, "caller_email": _TEXT,
        "intent": _TEXT, "urgency": _URGENCY, "interest": _TEXT, "call_summary": _TEXT,
    },
}

# The one field we send that the documentation's example predates (its description promises it).
NOT_IN_DOCUMENTED_EXAMPLE = {EventType.CALL_COMPLETED: {"transcript"}}


def body_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of a delivered body of this type."""
    event_type = EventType(event_type)
    fields = FIELDS[event_type]
    cut = [field for field in TRUNCATABLE if field in fields]
    data_properties = {name: copy.deepcopy(schema) for name, schema in fields.items()}
    for field in cut:
        data_properties[f"{field}_truncated"] = {
            "const": True,
            "description": f"Present when `{field}` was cut to keep the body under 100 KB (it then ends with “…”).",
        }
    if cut:
        data_properties["full_text_url"] = {
            "type": "string", "format": "uri",
            "description": "Present with a `*_truncated` flag: the API route (GET, authenticated) with the whole text.",
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://inboundflow.example/schemas/{event_type.value}.json",
        "title": f"{event_type.value} webhook body",
        "type": "object",
        "properties": {
            "event": {"const": event_type.value},
            "timestamp": {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"},
            "organization_id": {"type": "string", "format": "uuid"},
            "delivery_id": {"type": "string", "format": "uuid", "description": "Deduplicate with it: the same on every attempt."},
            "data": {
                "type": "object",
                "properties": data_properties,
                "required": [name for name in fields if name not in NOT_IN_DOCUMENTED_EXAMPLE.get(event_type, ())],
                "additionalProperties": False,
            },
        },
        "required": ["event", "timestamp", "organization_id", "delivery_id", "data"],
        "additionalProperties": False,
    }


# The documentation's example bodies, as published ("Charges Utiles"); tests/spec holds the
# published text they are checked against.
DOCUMENTED_EXAMPLES: dict[str, dict[str, Any]] = {
    EventType.CALL_COMPLETED: {
        "event": "call.completed", "timestamp": "2026-02-24T21:00:00.000Z", "organization_id": "uuid",
        "delivery_id": "unique-uuid",
        "data": {
            "call_id": "uuid", "caller_phone": "+1234567890", "caller_name": "Dave", "caller_email": "dave@example.com",
            "duration_seconds": 55,
            "summary": "Called about auto repair appointment. Customer wants to bring in a 2019 Honda Civic for brake inspection.",
            "intent": "book appointment", "urgency": "medium", "recording_url": "https://...",
            "started_at": "2026-02-24T20:59:00Z", "ended_at": "2026-02-24T21:00:00Z",
        },
    },
    EventType.CALL_TRANSFERRED: {
        "event": "call.transferred", "timestamp": "2026-02-24T21:00:00.000Z", "organization_id": "uuid",
        "delivery_id": "unique-uuid",
        "data": {
            "call_id": "uuid", "caller_phone": "+1234567890", "caller_name": "Dave", "duration_seconds": 47,
            "summary": "Caller requested to speak with manager about pricing.", "transferred_to_label": "Manager",
            "transferred_to_number": "+18154264329", "urgency": "medium",
            "reason": "Wants to discuss pricing for full body repair",
        },
    },
    EventType.APPOINTMENT_BOOKED: {
        "event": "appointment.booked", "timestamp": "2026-02-24T21:00:00.000Z", "organization_id": "uuid",
        "delivery_id": "unique-uuid",
        "data": {
            "call_id": "uuid", "caller_phone": "+1234567890", "caller_name": "Sarah", "appointment_date": "2026-02-25",
            "appointment_time_start": "2026-02-25T11:00:00Z", "appointment_time_end": "2026-02-25T12:00:00Z",
            "service_type": "Auto Repair Appointment", "calendar_event_id": "google_event_id",
            "calendar_event_link": "https://calendar.google.com/...",
        },
    },
    EventType.LEAD_CREATED: {
        "event": "lead.created", "timestamp": "2026-02-24T21:00:00.000Z", "organization_id": "uuid",
        "delivery_id": "unique-uuid",
        "data": {
            "call_id": "uuid", "caller_phone": "+1234567890", "caller_name": "Dave", "caller_email": "dave@example.com",
            "intent": "pricing inquiry", "urgency": "high", "interest": "auto body work",
            "call_summary": "Called about getting a quote for front bumper repair on a 2019 Honda Civic.",
        },
    },
}


def example_body(event_type: str) -> dict[str, Any]:
    """The documentation's example with every field we send, in our order: what a platform shows
    before the organization has a delivery of this type (call.completed gains `transcript`)."""
    example = copy.deepcopy(DOCUMENTED_EXAMPLES[EventType(event_type)])
    documented = example["data"]
    extra = {"transcript": "AI: Thanks for calling Main Street Auto! How can I help?\nCaller: My brakes are squeaking."}
    example["data"] = {name: documented[name] if name in documented else extra[name] for name in FIELDS[EventType(event_type)]}
    return example


def event_type_entry(event_type: str) -> dict[str, Any]:
    """One event type as `GET /api/event-types/` lists it."""
    event_type = EventType(event_type)
    label, description = DESCRIPTIONS[event_type]
    entry: dict[str, Any] = {"type": event_type.value, "label": {}, "description": {}}
    for language in ("fr", "en"):
        with translation.override(language):
            entry["label"][language] = str(label)
            entry["description"][language] = str(description)
    entry["schema"] = body_schema(event_type)
    return entry
