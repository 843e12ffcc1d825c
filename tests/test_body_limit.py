"""Every body fits the receiver our documentation tells customers to write: express.json() at its
default 100 KB limit. Long texts give way (transcript first), flagged, with a link to the rest."""
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from inboundflow.models import Lead
from webhooks import services
from webhooks.models import Attempt, Delivery, Event
from webhooks.payloads import ELLIPSIS, MAX_BODY_BYTES, delivery_body, fit_data

from .conftest import completed_call
from .helpers.node import NodeProgram

NODE_DIR = Path(__file__).parent / "node"
LONG = "Caller: my 2019 Honda Civic squeals when I brake — ça grince ! 🚗\n" * 3000  # ≈ 200 KB


class ExpressReceiver(NodeProgram):
    """tests/node/express_receiver.js: the documented receiver, run by Node."""

    def __init__(self, secret: str):
        super().__init__(NODE_DIR / "express_receiver.js", secret)
        self.url = f"http://127.0.0.1:{self.first['port']}/hook"

    next_request = NodeProgram.next_line


@pytest.fixture
def express():
    receiver = ExpressReceiver("s3cret")
    yield receiver
    receiver.close()


def _deliver(express) -> tuple[Attempt, dict]:
    delivery = Delivery.objects.get(status="pending")
    attempt = services.delivery_attempt(delivery_id=delivery.id)
    return attempt, express.next_request()


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
@pytest.mark.parametrize(
    "fields, cut",
    [
        ({"transcript": LONG}, ["transcript"]),
        ({"transcript": "\x01" * 150_000}, ["transcript"]),  # each escaped to six bytes
        ({"transcript": LONG, "summary": LONG}, ["transcript", "summary"]),
        ({"summary": LONG}, ["summary"]),
    ],
    ids=["150KB-transcript", "control-characters", "transcript-and-summary", "summary-only"],
)
def test_a_long_call_reaches_the_documented_receiver_verified(express, organization, make_integration, api, fields, cut):
    # given: the documented receiver, and a call whose texts are far over 100 KB
    make_integration(express.url, events=["call.completed"])
    call = completed_call(organization, **fields)
    # when
    attempt, received = _deliver(express)
    # then: express.json() accepted it, the documented verifier verified it
    assert (received["status"], received["verified"], attempt.status_code) == (200, True, 200), received.get("error")
    body = delivery_body(event=Event.objects.get(), delivery_id=Delivery.objects.get().id)
    assert len(body) <= MAX_BODY_BYTES
    data = received["body"]["data"]
    # every documented field is there, untouched but for the texts that gave way
    for key in ("call_id", "caller_phone", "caller_name", "caller_email", "duration_seconds", "intent",
                "urgency", "recording_url", "started_at", "ended_at"):
        assert data[key] == json.loads(Event.objects.get().data)[key]
    assert data["caller_name"] == "Dave" and data["call_id"] == str(call.pk)
    for key in ("summary", "transcript"):
        full = getattr(call, key)
        if key in cut:
            assert data[f"{key}_truncated"] is True
            assert data[key].endswith(ELLIPSIS) and full.startswith(data[key][: -len(ELLIPSIS)])
        else:
            assert data[key] == full and f"{key}_truncated" not in data
    # and the link gives the whole text to the organization, and to nobody else
    path = data["full_text_url"].removeprefix("http://localhost:8000")
    whole = api.get(path).json()
    assert whole["transcript"] == call.transcript and whole["summary"] == call.summary


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_a_lead_from_a_call_with_a_long_summary_fits_too(express, organization, make_integration):
    make_integration(express.url, events=["lead.created"])
    call = completed_call(organization, summary=LONG)
    Lead.objects.create(organization=organization, call=call, caller_name="Dave", interest="brakes")
    attempt, received = _deliver(express)
    assert (received["status"], received["verified"]) == (200, True)
    assert received["body"]["data"]["call_summary_truncated"] is True
    assert received["body"]["data"]["interest"] == "brakes"


@pytest.mark.django_db
def test_the_full_text_is_scoped_to_the_organization(organization, other_organization, api):
    theirs = completed_call(other_organization, transcript="their secret call")
    assert api.get(f"/api/calls/{theirs.pk}/").status_code == 404
    mine = completed_call(organization)
    assert api.get(f"/api/calls/{mine.pk}/").json()["transcript"] == mine.transcript


def test_a_body_under_the_limit_is_left_as_it_is():
    data = {"call_id": "x", "summary": "short", "transcript": "short"}
    assert fit_data("call.completed", data, full_text_url="https://x/api/calls/x/") is data


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    transcript=st.text(min_size=0, max_size=60_000),
    summary=st.text(min_size=0, max_size=60_000),
    repeat=st.integers(min_value=1, max_value=4),
)
def test_any_text_is_cut_to_fit_as_a_prefix(transcript, summary, repeat):
    from webhooks.payloads import canonical_json

    data = {"call_id": "6a3f6d9e-1f7c-4e7b-9d1e-0c2b3a4d5e6f", "caller_name": "Dave", "summary": summary * repeat,
            "transcript": transcript * repeat}
    fitted = fit_data("call.completed", data, full_text_url="https://example.com/api/calls/x/")
    envelope = {"event": "call.completed", "timestamp": "2026-01-01T00:00:00.000Z",
                "organization_id": "6a3f6d9e-1f7c-4e7b-9d1e-0c2b3a4d5e6f",
                "delivery_id": "6a3f6d9e-1f7c-4e7b-9d1e-0c2b3a4d5e6f", "data": fitted}
    assert len(canonical_json(envelope).encode("utf-8", "surrogatepass")) <= MAX_BODY_BYTES
    for key in ("summary", "transcript"):
        if fitted.get(f"{key}_truncated"):
            assert data[key].startswith(fitted[key][: -len(ELLIPSIS)])
        else:
            assert fitted[key] == data[key]
