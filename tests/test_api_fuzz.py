"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis): whatever a
client sends, the answer is a documented status, never a server error."""
import base64
from unittest import mock

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from inboundflow.models import Organization, User
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
def owner_auth(db):
    organization = Organization.objects.create(name="Fuzzed")
    User.objects.create_user("fuzzer", password="fuzz-pass-123", organization=organization)
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
def test_no_input_makes_the_api_fail(api_schema, owner_auth, receiver):
    organization = User.objects.get(username="fuzzer").organization
    hook = Integration.objects.create(
        organization=organization, name="Fuzzed", target_url=receiver.url, secret="s3cret",
        event_types=["call.completed"],
    )
    completed_call(organization)
    targets = {"integrations": hook.pk, "deliveries": Delivery.objects.get().pk}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    statuses = set()
    for operation in operations:

        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def answers_without_failing(case):
            if case.path_parameters and "id" in case.path_parameters:  # aim at real objects
                case.path_parameters["id"] = str(targets["deliveries" if "deliveries" in case.path else "integrations"])
            response = case.call(headers={"Authorization": owner_auth})
            statuses.add(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])

        answers_without_failing()
    assert 200 in statuses and 400 in statuses  # it reached the logic, not only the door
