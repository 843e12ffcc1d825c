"""Signatures over the exact bytes we send.

`X-InboundFlow-Signature` (documented): `sha256=` + hex HMAC-SHA256 over "{timestamp}.{body}",
keyed with the customer's secret (UTF-8). `webhook-signature` (Standard Webhooks, beside it):
`v1,` + base64 HMAC-SHA256 over "{webhook-id}.{timestamp}.{body}", one per valid secret, with
the same key; libraries take that key as `whsec_` + base64 of the secret's bytes.
"""
import base64
import hashlib
import hmac

STANDARD_PREFIX = "whsec_"


def signature_for_payload(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_is_valid(*, secret: str, timestamp: int | str, body: bytes, signature: str) -> bool:
    expected = signature_for_payload(secret=secret, timestamp=int(timestamp), body=body)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


def standard_secret(secret: str) -> str:
    """The secret as Standard Webhooks and Svix libraries take it (the same key)."""
    return STANDARD_PREFIX + base64.b64encode(secret.encode("utf-8")).decode("ascii")


def standard_signature(*, secrets: tuple[str, ...], message_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: space-separated `v1,<base64>`, one per secret."""
    signed = f"{message_id}.{timestamp}.".encode("ascii") + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()).decode("ascii")
        for secret in secrets
    )
