"""A logged-in person's own settings: their saved language wins over their browser's
(LocaleMiddleware's choice), and times show in their organization's time zone."""
import zoneinfo

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
            if user.organization_id is not None:
                timezone.activate(zoneinfo.ZoneInfo(user.organization.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
