"""Onboarding: create an organization and its first owner, who can then log in to Settings →
Integrations. (A `createsuperuser` account belongs to no organization: it sees the admin only.)"""
import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from inboundflow.models import Organization, User, validate_time_zone

PASSWORD_VARIABLE = "INBOUNDFLOW_OWNER_PASSWORD"


class Command(BaseCommand):
    help = "Create an organization and its first owner (a user who logs in to its settings)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the organization's name")
        parser.add_argument("--owner", required=True, metavar="USERNAME", help="the owner's login")
        parser.add_argument("--email", default="", help="the owner's e-mail address")
        parser.add_argument(
            "--time-zone", default="Europe/Paris", help="where the dashboard's times are shown (default Europe/Paris)"
        )
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive",
            help=f"do not prompt: the password comes from ${PASSWORD_VARIABLE}",
        )

    def handle(self, *args, **options):
        name = options["name"].strip()
        if not name:
            raise CommandError(_("The organization needs a name (--name)."))
        if len(name) > Organization._meta.get_field("name").max_length:
            raise CommandError(_("The organization's name is longer than 200 characters."))
        try:
            validate_time_zone(options["time_zone"])
        except ValidationError as error:
            raise CommandError(" ".join(error.messages))
        username = options["owner"].strip()
        if User.objects.filter(username=username).exists():
            raise CommandError(_("A user named %(name)r already exists; choose another --owner.") % {"name": username})
        user = User(username=username, email=options["email"])
        try:
            User._meta.get_field("username").run_validators(username)
            User._meta.get_field("email").run_validators(user.email)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages))
        password = self._password(options["interactive"], user)
        with transaction.atomic():
            organization = Organization.objects.create(name=name, time_zone=options["time_zone"])
            user.organization = organization
            user.set_password(password)
            user.save()
        self.stdout.write(
            self.style.SUCCESS(
                _("Created %(organization)s (%(id)s) with its owner %(owner)s.")
                % {"organization": organization.name, "id": organization.pk, "owner": user.username}
            )
            + "\n  "
            + _("They log in at /accounts/login/ and connect webhooks in Settings → Integrations.")
        )

    def _password(self, interactive: bool, user: User) -> str:
        password = os.environ.get(PASSWORD_VARIABLE, "")
        if not password and interactive:
            password = getpass.getpass(_("Owner's password: "))
            if password != getpass.getpass(_("Owner's password (again): ")):
                raise CommandError(_("The two passwords differ; nothing was created."))
        if not password:
            raise CommandError(_("No password: set $%(variable)s or run without --noinput.") % {"variable": PASSWORD_VARIABLE})
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError(_("That password is refused: %(reasons)s") % {"reasons": " ".join(error.messages)})
        return password
