"""Signing secrets at rest: encrypted with Fernet (the `cryptography` package).

Keys come from WEBHOOKS_SECRET_KEYS (comma-separated Fernet keys): the first encrypts, all
decrypt, so a key can be rotated in (`manage.py webhooks_rotate_secrets`). Without it, a key is
derived from DJANGO_SECRET_KEY, and a system check warns in production.
"""
import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

from .conf import setting


def _keys() -> tuple[str, ...]:
    keys = tuple(setting("SECRET_KEYS"))
    if not keys:
        derived = hashlib.sha256(b"inboundflow-webhook-secrets:" + settings.SECRET_KEY.encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    return keys


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(_keys())


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii") if plaintext else ""


def decrypt(token: str) -> str:
    return _decrypt(_keys(), token) if token else ""


@lru_cache(maxsize=4096)
def _decrypt(keys: tuple[str, ...], token: str) -> str:
    """Keyed by the key set too: a batch loads one integration's secret once per delivery row,
    and a key removed from the settings must stop decrypting."""
    try:
        return _fernet(keys).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise ValueError(
            "A signing secret cannot be decrypted: WEBHOOKS_SECRET_KEYS does not hold the key it was stored with."
        ) from None


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python sees the plaintext. Empty stays empty."""

    def from_db_value(self, value, expression, connection):
        return value if value is None else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value is None else encrypt(value)
