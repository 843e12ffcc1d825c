"""The body bytes are a fixed point of JSON.stringify(JSON.parse(...)), proven against Node."""
import base64
import datetime as dt
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from webhooks.models import Event
from webhooks.payloads import canonical_json, delivery_body
from webhooks.signing import signature_for_payload

NODE = shutil.which("node")
VERIFY_JS = Path(__file__).parent / "node" / "verify.js"

# Any code point, surrogates and controls included.
any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | any_text,
    lambda children: st.lists(children, max_size=4)
    | st.fixed_dictionaries({"summary": children, "caller_name": children}),
    max_leaves=12,
)


class NodeVerifier:
    def __init__(self):
        self.process = subprocess.Popen(
            [NODE, str(VERIFY_JS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )

    def check(self, body: bytes, *, secret: str = "sécret 🔑", timestamp: int = 1709064000) -> dict:
        request = {
            "body_b64": base64.b64encode(body).decode(),
            "timestamp": str(timestamp),
            "signature": signature_for_payload(secret=secret, timestamp=timestamp, body=body),
            "secret": secret,
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def node():
    if NODE is None:
        pytest.fail("node is needed to check bodies against the documented verifier")
    verifier = NodeVerifier()
    yield verifier
    verifier.close()


def _event(data: dict) -> Event:
    return Event(
        organization_id=uuid.uuid4(),
        event_type="call.completed",
        occurred_at=dt.datetime(2026, 2, 24, 21, 0, 0, 123456, tzinfo=dt.timezone.utc),
        data=canonical_json(data),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(summary=any_text, name=any_text, extra=json_values)
def test_every_body_verifies_with_the_documented_snippet(node, summary, name, extra):
    # given: an envelope whose strings hold any characters at all
    data = {"call_id": str(uuid.uuid4()), "caller_name": name, "summary": summary, "duration_seconds": 55, "extra": extra}
    # when
    body = delivery_body(event=_event(data), delivery_id=uuid.uuid4())
    # then: Node's parse/stringify gives back our bytes, and verify-webhook.js accepts them
    assert node.check(body) == {"roundtrip": True, "verified": True}


@pytest.mark.parametrize(
    "text",
    ["\x00\x1f\x7f", "line\nbreak\ttab\r\b\f", "quote\" back\\slash /", "\u2028\u2029", "\ud800 lone", "pair \ud83d\ude97", "Zoë 🚗 日本語"],
)
def test_awkward_strings_verify(node, text):
    body = delivery_body(event=_event({"summary": text}), delivery_id=uuid.uuid4())
    assert node.check(body) == {"roundtrip": True, "verified": True}


def test_a_body_that_is_not_canonical_would_fail_the_snippet(node):
    # The check can fail: pretty-printed JSON verifies on raw bytes but not with the snippet.
    body = json.dumps({"event": "call.completed", "data": {"a": 1}}, indent=2).encode()
    assert node.check(body) == {"roundtrip": False, "verified": False}


def test_envelope_shape_and_timestamp_format():
    delivery_id = uuid.uuid4()
    event = _event({"call_id": "x"})
    body = json.loads(delivery_body(event=event, delivery_id=delivery_id))
    assert list(body) == ["event", "timestamp", "organization_id", "delivery_id", "data"]
    assert body["timestamp"] == "2026-02-24T21:00:00.123Z"
    assert body["delivery_id"] == str(delivery_id)
    assert body["organization_id"] == str(event.organization_id)


def test_every_attempt_of_a_delivery_gets_the_same_bytes():
    event, delivery_id = _event({"summary": "same"}), uuid.uuid4()
    assert delivery_body(event=event, delivery_id=delivery_id) == delivery_body(event=event, delivery_id=delivery_id)
