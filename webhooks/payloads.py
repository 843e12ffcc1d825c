"""The exact bytes we send.

The documented verifier hashes `JSON.stringify(JSON.parse(body))`, not the raw body, so our
bytes must be a fixed point of that round trip: compact separators, non-ASCII characters as
raw UTF-8, the same escapes as JavaScript (`\\n`, `\\u001f`, lowercase hex), lone surrogates
escaped, and no floats (our payloads carry only integers).
"""
import functools
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


# The documented receiver parses with express.json(), whose default limit is 100 KB: no body
# we send may be larger.
MAX_BODY_BYTES = 102_400

# What gives way when a body would be too large, in this order, each only as far as needed: the
# free texts, the transcript first. A text of at most KEEP_WHOLE_BYTES is never cut, and every
# other field is bounded by its column (all of them together stay far below the limit).
TRUNCATABLE = ("transcript", "summary", "call_summary", "reason")
KEEP_WHOLE_BYTES = 2048
ELLIPSIS = "…"


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@functools.cache
def _envelope_bytes(event_type: str) -> int:
    """The body's size without its data object (ids and the timestamp have fixed lengths)."""
    sample_id = "00000000-0000-0000-0000-000000000000"
    envelope = {
        "event": event_type, "timestamp": "2026-01-01T00:00:00.000Z",
        "organization_id": sample_id, "delivery_id": sample_id, "data": {},
    }
    return _size(canonical_json(envelope)) - 2


def data_json(event_type: str, data: dict, *, full_text_url: str) -> str:
    """The event's `data` as canonical JSON, cut to fit when the body would pass MAX_BODY_BYTES
    (serialized once when it fits, as nearly every event does)."""
    text = canonical_json(data)
    if _size(text) <= MAX_BODY_BYTES - _envelope_bytes(event_type):
        return text
    return canonical_json(fit_data(event_type, data, full_text_url=full_text_url))


def fit_data(event_type: str, data: dict, *, full_text_url: str) -> dict:
    """`data` as it is, or, when the body would pass MAX_BODY_BYTES, with the long texts cut.

    Each cut field ends with "…" and is flagged `<field>_truncated: true`; `full_text_url` (the
    authenticated API route with the whole text) is added once. Both come after the documented
    fields, which all stay present.
    """
    budget = MAX_BODY_BYTES - _envelope_bytes(event_type)
    if _size(canonical_json(data)) <= budget:
        return data
    data = dict(data)
    for field in TRUNCATABLE:
        text = data.get(field)
        if not isinstance(text, str) or _size(canonical_json(text)) <= KEEP_WHOLE_BYTES:
            continue
        data[f"{field}_truncated"] = True
        data["full_text_url"] = full_text_url
        data[field] = _longest_prefix_that_fits(data, field, text, budget)
        if _size(canonical_json(data)) <= budget:
            return data
    raise ValueError(f"a {event_type} body cannot be brought under {MAX_BODY_BYTES} bytes")


def _longest_prefix_that_fits(data: dict, field: str, text: str, budget: int) -> str:
    """The longest `text[:k] + "…"` with which `data` fits `budget` (just "…" if none does)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        data[field] = text[:middle] + ELLIPSIS
        if _size(canonical_json(data)) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low] + ELLIPSIS
