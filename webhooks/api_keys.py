"""API keys: how Zapier, Make, n8n and scripts act for an organization.

djangorestframework-api-key generates and hashes the keys (`<prefix>.<secret>`, SHA-512, the
prefix shown in lists); this module turns a valid `Authorization: Api-Key …` header into the
key's organization for every `/api/` route. A missing or bad key answers 401 with
`WWW-Authenticate: Api-Key`, so that clients know which credentials to send.
"""
import datetime as dt
import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_api_key.permissions import KeyParser

from .models import ApiKey

KEYWORD = "Api-Key"
# What a key we issue looks like; anything else is refused before the database is asked.
_KEY_SHAPE = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")
# `last_used_at` is written at most this often per key, not on every request.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


class ApiKeyPrincipal:
    """`request.user` for a request made with an API key: the organization, no person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.organization_id = api_key.organization_id
        self.organization = api_key.organization

    def get_username(self) -> str:
        return f"API key “{self.api_key.name}” ({self.api_key.prefix})"

    def __str__(self) -> str:
        return self.get_username()


class ApiKeyAuthentication(BaseAuthentication):
    parser = KeyParser()

    def authenticate(self, request):
        key = self.parser.get_from_authorization(request)
        if key is None:
            return None  # not ours: another scheme, or no credentials
        key = key.strip()
        api_key = None
        if _KEY_SHAPE.fullmatch(key):
            try:
                api_key = ApiKey.objects.get_from_key(key)
            except ApiKey.DoesNotExist:
                pass
        if api_key is None or api_key.has_expired:
            raise AuthenticationFailed(_("This API key is not valid: it was mistyped, revoked or has expired."))
        _note_use(api_key)
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="api"'


def _note_use(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def api_key_create(*, organization_id, name: str) -> tuple[ApiKey, str]:
    """A new key for the organization: the key object, and the key itself (shown once)."""
    with transaction.atomic():
        return ApiKey.objects.create_key(organization_id=organization_id, name=name)


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revoked keys stay listed (who had access, until when) and never work again."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk, revoked=False).update(revoked=True, revoked_at=now)
    api_key.refresh_from_db()
