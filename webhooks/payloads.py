"""The exact bytes we send.

The documented verifier hashes `JSON.stringify(JSON.parse(body))`, not the raw body, so our
bytes must be a fixed point of that round trip: compact separators, non-ASCII characters as
raw UTF-8, the same escapes as JavaScript (`\\n`, `\\u001f`, lowercase hex), lone surrogates
escaped, and no floats (our payloads carry only integers).
"""
import json
import re
from typing import Any

from .events import format_timestamp

# A surrogate pair held as two code points, or a lone surrogate.
_SURROGATES = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")


def _as_javascript(match: re.Match) -> str:
    text = match.group()
    if len(text) == 2:  # a pair: JavaScript prints the character it stands for
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    return f"\\u{ord(text):04x}"


def canonical_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _SURROGATES.sub(_as_javascript, text)


def delivery_body(*, event, delivery_id) -> bytes:
    """The body of every attempt of one delivery: the same bytes each time."""
    envelope = {
        "event": event.event_type,
        "timestamp": format_timestamp(event.occurred_at),
        "organization_id": str(event.organization_id),
        "delivery_id": str(delivery_id),
        "data": json.loads(event.data),
    }
    return canonical_json(envelope).encode("utf-8")
