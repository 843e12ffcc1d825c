"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis): whatever a
client sends, the answer is a documented status, never a server error."""
import base64
from unittest import mock

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings, strategies as st

from inboundflow.models import Call, Organization, User
from webhooks import api_keys
from webhooks.destinations import DestinationError
from webhooks.models import Delivery, Integration

from .conftest import completed_call

@pytest.fixture
def api_schema(db):
    # Like Django's test client: keep the test's database connection across requests.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def organization_fuzzed(db):
    return Organization.objects.create(name="Fuzzed")


@pytest.fixture(params=["api_key", "basic"])
def owner_auth(request, organization_fuzzed):
    """How platforms call us (an API key), and how a person's script may (their password)."""
    if request.param == "api_key":
        return "Api-Key " + api_keys.api_key_create(organization_id=organization_fuzzed.pk, name="Fuzzer")[1]
    User.objects.create_user("fuzzer", password="fuzz-pass-123", organization=organization_fuzzed)
    return "Basic " + base64.b64encode(b"fuzzer:fuzz-pass-123").decode()


@pytest.fixture
def no_dns():
    """Fuzzed URLs name random hosts: answer "not found" here instead of asking a resolver."""
    def not_found(host, port, timeout):
        raise DestinationError(f"The host “{host}” could not be found.", "unresolvable")

    with mock.patch("webhooks.destinations._lookup", side_effect=not_found):
        yield


@pytest.mark.django_db
@pytest.mark.usefixtures("no_dns", "no_broker")
def test_no_input_makes_the_api_fail(api_schema, owner_auth, organization_fuzzed, receiver):
    organization = organization_fuzzed
    hook = Integration.objects.create(
        organization=organization, name="Fuzzed", target_url=receiver.url, secret="s3cret",
        event_types=["call.completed"],
    )
    subscription = Integration.objects.create(
        organization=organization, origin="rest_hook", name="Subscribed", target_url=receiver.url,
        event_types=["call.completed", "lead.created"],
    )
    completed_call(organization)
    targets = {
        "integrations": hook.pk, "hooks": subscription.pk,
        "deliveries": Delivery.objects.filter(integration=hook).get().pk, "calls": Call.objects.get().pk,
    }
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {"/api/hooks/", "/api/hooks/{id}/", "/api/me/", "/api/event-types/", "/api/event-types/{type}/samples/"} <= {
        operation.path for operation in operations
    }
    statuses = {}
    for operation in operations:

        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), aim=st.booleans())
        def answers_without_failing(case, aim):
            if case.path_parameters and "id" in case.path_parameters and aim:  # aim at real objects, or not
                case.path_parameters["id"] = str(targets[case.path.split("/")[2]])
            if case.path_parameters and "type" in case.path_parameters and aim:
                case.path_parameters["type"] = "call.completed"
            response = case.call(headers={"Authorization": owner_auth})
            statuses.setdefault(case.path, set()).add(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])

        answers_without_failing()
    every = set().union(*statuses.values())
    assert 200 in every and 400 in every  # it reached the logic, not only the door
    for path in ("/api/hooks/", "/api/hooks/{id}/", "/api/event-types/{type}/samples/"):
        assert statuses[path] & {200, 201, 204}, (path, statuses[path])
