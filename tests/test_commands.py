"""webhooks_reenable: one integration, one organization's, or all; dry run; clear errors."""
import os
import subprocess
import sys
import uuid
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inboundflow.models import Organization, User
from webhooks.models import Delivery, Integration

from .conftest import completed_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]



def run(*args) -> str:
    out = StringIO()
    call_command("webhooks_reenable", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def disabled(make_integration):
    def make(**fields):
        return make_integration("https://8.8.8.8/hook", state="disabled", disabled_at=timezone.now(),
                                disabled_reason="Disabled automatically", consecutive_failures=10, **fields)
    return make


def test_one_integration_with_send_held(organization, disabled):
    hook = disabled()
    completed_call(organization)
    output = run("--integration", str(hook.pk), "--send-held")
    hook.refresh_from_db()
    assert hook.is_active and hook.consecutive_failures == 0
    assert Delivery.objects.get().status == "pending"
    assert "re-enabled 1 integration(s); 1 held deliveries sent" in output


def test_without_send_held_the_held_stay_held(organization, disabled):
    hook = disabled()
    completed_call(organization)
    assert "1 held kept" in run("--integration", str(hook.pk))
    assert Delivery.objects.get().status == "held"


@pytest.mark.parametrize("dry_run", [["--dry-run"], []], ids=["dry-run", "real"])
def test_both_runs_print_why_it_was_disabled(organization, disabled, dry_run):
    hook = disabled()
    assert f"({hook.pk}) of Main Street Auto [was: Disabled automatically]" in run("--all", *dry_run)


def test_dry_run_changes_nothing(organization, disabled):
    hook = disabled()
    completed_call(organization)
    output = run("--all", "--dry-run", "--send-held")
    hook.refresh_from_db()
    assert hook.state == "disabled" and Delivery.objects.get().status == "held"
    assert "[dry run] would re-enable" in output and "would re-enable 1 integration(s)" in output


def test_organization_scope(organization, other_organization, disabled):
    mine, theirs = disabled(), disabled(organization=other_organization)
    run("--organization", str(organization.pk))
    assert Integration.objects.get(pk=mine.pk).is_active
    assert not Integration.objects.get(pk=theirs.pk).is_active


def test_all(organization, other_organization, disabled):
    disabled(), disabled(organization=other_organization)
    assert "re-enabled 2 integration(s)" in run("--all")
    assert set(Integration.objects.values_list("state", flat=True)) == {"active"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--integration", str(uuid.uuid4())], "No integration has the id"),
        (["--integration", "nope"], "is not an integration id"),
        (["--organization", str(uuid.uuid4())], "No organization with id"),
    ],
)
def test_unknown_ids_are_clear_errors(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_unknown_id_exits_non_zero_from_the_shell():
    result = subprocess.run(
        [sys.executable, "manage.py", "webhooks_reenable", "--integration", "nope"],
        capture_output=True, text=True, env={**os.environ, "DJANGO_SETTINGS_MODULE": "inboundflow.settings_test"},
    )
    assert result.returncode != 0 and "is not an integration id" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_active_integration_is_left_alone(make_integration):
    hook = make_integration("https://8.8.8.8/hook")
    assert "already active" in run("--integration", str(hook.pk))


# --- organization_create: onboarding ------------------------------------------------------


def create_organization(*args, password="a-Long-owner-pass-1") -> str:
    out = StringIO()
    with mock.patch.dict(os.environ, {"INBOUNDFLOW_OWNER_PASSWORD": password}):
        call_command("organization_create", *args, "--noinput", stdout=out)
    return out.getvalue()


def test_organization_create_gives_an_owner_who_reaches_the_settings_page(client):
    output = create_organization(
        "--name", "Garage Dupont", "--owner", "marie", "--email", "marie@example.com", "--time-zone", "Europe/Brussels"
    )
    organization = Organization.objects.get(name="Garage Dupont", time_zone="Europe/Brussels")
    assert f"Created Garage Dupont ({organization.pk}) with its owner marie." in output
    assert client.login(username="marie", password="a-Long-owner-pass-1")
    assert client.get("/settings/integrations/").status_code == 200


@pytest.mark.parametrize(
    "args, password, message",
    [
        (["--name", "G", "--owner", "taken"], "a-Long-owner-pass-1", "already exists"),
        (["--name", "  ", "--owner", "new"], "a-Long-owner-pass-1", "needs a name"),
        (["--name", "G", "--owner", "new"], "", "No password"),
        (["--name", "G", "--owner", "new"], "short", "password is refused"),
        (["--name", "G", "--owner", "bad name!"], "a-Long-owner-pass-1", "Enter a valid username"),
        (["--name", "G", "--owner", "new", "--email", "not-mail"], "a-Long-owner-pass-1", "valid email"),
        (["--name", "G", "--owner", "new", "--time-zone", "Mars/Olympus"], "a-Long-owner-pass-1", "is not a time zone"),
    ],
)
def test_organization_create_refuses_clearly_and_writes_nothing(organization, args, password, message):
    User.objects.create_user("taken", password="x")
    with pytest.raises(CommandError) as caught:
        create_organization(*args, password=password)
    assert message in str(caught.value)
    assert Organization.objects.count() == 1 and User.objects.count() == 1


def test_commands_speak_the_configured_language(organization, disabled):
    from django.utils import translation

    hook = disabled()
    with translation.override("fr"):
        output = run("--integration", str(hook.pk))
        with pytest.raises(CommandError) as caught:
            run("--integration", "not-a-uuid")
    assert f"({hook.pk}) de Main Street Auto réactivée [était : Disabled automatically]" in output
    assert "« not-a-uuid » n'est pas un identifiant d'intégration (un UUID)." in str(caught.value)
