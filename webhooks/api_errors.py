"""The API's edge: whatever a client sends, the answer is JSON with a clear message and a 4xx.

- bodies: JSON nested too deeply is a parse error, not a RecursionError; a body over
  DATA_UPLOAD_MAX_MEMORY_SIZE is a 413;
- paging: `limit` is capped, an `offset` past what PostgreSQL can count is a 400;
- every error under /api/ (unknown route, a 500 that should never happen) is JSON too.
"""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import parsers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - the body is nested too deeply."))


class Pagination(LimitOffsetPagination):
    max_limit = 500
    max_offset = 10**12

    def get_offset(self, request):
        offset = super().get_offset(request)
        if offset > self.max_offset:
            raise ValidationError({"offset": _("Ensure offset is at most %(max)d.") % {"max": self.max_offset}})
        return offset


def object_body(request, serializer_class) -> dict:
    """The validated fields of an action's body; a body that is not an object is a 400."""
    data = request.data  # {} when there is no body
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": [_("Expected a JSON object as the request body.")]})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def handle_exception(exc, context):
    """DRF's handler, plus a body too large for the server (Django raises it while reading)."""
    from rest_framework.views import exception_handler  # not at import: DRF's settings import us

    if isinstance(exc, RequestDataTooBig):
        limit = filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return Response(
            {"detail": _("The request body is too large (at most %(limit)s).") % {"limit": limit}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return exception_handler(exc, context)


def api_aware(default_view, status_code: int, detail: str):
    """Django's error view for `status_code`, answering JSON instead under /api/."""

    def view(request, *args, **kwargs):
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": str(detail)}, status=status_code)
        return default_view(request, *args, **kwargs)

    return view


bad_request = api_aware(defaults.bad_request, 400, _("Bad request."))
not_found = api_aware(defaults.page_not_found, 404, _("Not found."))
server_error = api_aware(defaults.server_error, 500, _("Server error."))
