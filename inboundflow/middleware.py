"""A logged-in person's own settings: their saved language wins over their browser's
(LocaleMiddleware's choice), and times show in their organization's time zone.

A person who never chose keeps the language their browser asked for on their first visit: it is
also the language of the e-mails they are sent, which have no browser to ask."""
import zoneinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone, translation


class UserPreferencesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language:
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            elif "HTTP_ACCEPT_LANGUAGE" in request.META and request.LANGUAGE_CODE in dict(settings.LANGUAGES):
                user.language = request.LANGUAGE_CODE  # once: the filter below makes it a no-op after
                get_user_model().objects.filter(pk=user.pk, language="").update(language=user.language)
            if user.organization_id is not None:
                timezone.activate(zoneinfo.ZoneInfo(user.organization.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
