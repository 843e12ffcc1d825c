"""Field validators shared by the settings page, the API and the admin (they live on the model)."""
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .destinations import DestinationError, check_url


def validate_webhook_url(url: str) -> None:
    """An https:// URL whose host resolves only to public addresses (see destinations.py)."""
    try:
        check_url(url)
    except DestinationError as error:
        raise ValidationError(str(error), code=error.code)


def validate_event_types(value) -> None:
    from .events import EventType

    if not isinstance(value, list) or not value:
        raise ValidationError(_("Choose at least one event to receive."), code="no_events")
    unknown = [item for item in value if item not in EventType.values]
    if unknown:
        raise ValidationError(
            _("Unknown event type(s): %(unknown)s. Known: %(known)s.")
            % {"unknown": ", ".join(map(str, unknown)), "known": ", ".join(EventType.values)},
            code="unknown_event",
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("An event type is listed twice."), code="duplicate_event")


def validate_plain_text(value: str) -> None:
    """Names are shown in lists and logs: no control characters, no surrogates."""
    if any(ord(char) < 32 or ord(char) == 127 or 0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise ValidationError(_("Use printable characters only (no line breaks or control characters)."), code="control_chars")
    if "\ufffd" in value:
        raise ValidationError(_("This text contains bytes that are not valid UTF-8."), code="not_utf8")
