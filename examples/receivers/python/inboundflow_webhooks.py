"""Verifying InboundFlow webhooks in Python, with the standard library only.

    payload = verify(body=raw_bytes, headers=request_headers, secrets=["new", "old"])

- works on the raw body (the bytes as received), never on re-serialized JSON;
- checks both header sets when present: `X-InboundFlow-Signature` (sha256=<hex HMAC of
  "{timestamp}.{body}">) and the Standard Webhooks `webhook-signature` (v1,<base64 HMAC of
  "{webhook-id}.{timestamp}.{body}">, several during a rotation);
- refuses a timestamp more than `tolerance` seconds away (300): a replayed old delivery;
- `secrets` is a list: during a rotation give the new secret and the previous one.

`Deduplicator` remembers delivery ids: retries and redeliveries keep their id, handle each once.
"""
import base64
import hashlib
import hmac
import json
import threading
import time

__all__ = ["InvalidWebhook", "verify", "Deduplicator"]


class InvalidWebhook(Exception):
    """The request is not a genuine, fresh InboundFlow delivery; the message says why."""


def _header(headers, name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _hmac(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest()


def verify(*, body: bytes, headers, secrets: list[str], tolerance: float = 300, now: float | None = None) -> dict:
    """The delivery's payload when the request is genuine and fresh; raises InvalidWebhook."""
    if not isinstance(body, (bytes, bytearray)):
        raise InvalidWebhook("the raw body is needed (bytes), not a parsed object")
    if not secrets:
        raise InvalidWebhook("no secret configured")
    timestamp = _header(headers, "X-InboundFlow-Timestamp")
    signature = _header(headers, "X-InboundFlow-Signature")
    if not timestamp or not signature:
        raise InvalidWebhook("missing X-InboundFlow-Timestamp or X-InboundFlow-Signature")
    if not timestamp.isdigit():
        raise InvalidWebhook("X-InboundFlow-Timestamp is not a unix time")
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        raise InvalidWebhook("timestamp outside the tolerance: a replay, or a clock far off")
    signed = f"{timestamp}.".encode("ascii") + bytes(body)
    if not any(hmac.compare_digest(signature, "sha256=" + _hmac(s, signed).hex()) for s in secrets):
        raise InvalidWebhook("X-InboundFlow-Signature does not match any secret")
    standard = _header(headers, "webhook-signature")
    if standard is not None:
        message_id = _header(headers, "webhook-id")
        if not message_id or _header(headers, "webhook-timestamp") != timestamp:
            raise InvalidWebhook("webhook-id / webhook-timestamp missing or different")
        content = f"{message_id}.{timestamp}.".encode("utf-8") + bytes(body)
        expected = ["v1," + base64.b64encode(_hmac(s, content)).decode("ascii") for s in secrets]
        if not any(hmac.compare_digest(offered, mine) for offered in standard.split(" ") for mine in expected):
            raise InvalidWebhook("webhook-signature does not match any secret")
    try:
        payload = json.loads(body)
    except ValueError:
        raise InvalidWebhook("the body is not JSON") from None
    if payload.get("delivery_id") != _header(headers, "X-InboundFlow-Delivery-Id"):
        raise InvalidWebhook("delivery_id differs from its header")
    return payload


class Deduplicator:
    """Delivery ids seen in the last `keep` seconds, in this process. With several processes,
    keep them in your database (a unique column) or Redis (SET NX with an expiry) instead."""

    def __init__(self, keep: float = 24 * 3600):
        self.keep, self._seen, self._lock = keep, {}, threading.Lock()

    def first_time(self, delivery_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            for old in [i for i, at in self._seen.items() if now - at > self.keep]:
                del self._seen[old]
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now
            return True
