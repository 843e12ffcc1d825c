"""The OpenAPI schema (drf-spectacular) describes the API without warnings and is served."""
import pytest
from django.core.management import call_command


def test_schema_generates_and_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/integrations/{id}/test/", "/api/integrations/{id}/enable/", "/api/deliveries/{id}/redeliver/",
        "/api/hooks/", "/api/hooks/{id}/", "/api/me/", "/api/event-types/", "/api/event-types/{type}/samples/",
    ):
        assert path in text
    assert "ApiKeyAuth" in text and "hooks.zapier.com" in text  # the key scheme, and examples


@pytest.mark.django_db
def test_schema_is_served(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200 and b"InboundFlow Webhooks API" in response.content
