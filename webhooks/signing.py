"""`X-InboundFlow-Signature`: HMAC-SHA256 over "{timestamp}.{body}" with the customer's secret."""
import hashlib
import hmac


def signature_for_payload(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_is_valid(*, secret: str, timestamp: int | str, body: bytes, signature: str) -> bool:
    expected = signature_for_payload(secret=secret, timestamp=int(timestamp), body=body)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))
