"""An API key for an organization, for operators and scripts: the key alone on the last line,
so that `KEY=$(manage.py api_key_create … | tail -n1)` works."""
import uuid

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from inboundflow.models import Organization
from webhooks.api_keys import api_key_create
from webhooks.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for an organization and print it (shown once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, metavar="UUID", help="the organization's id")
        parser.add_argument("--name", required=True, help="who or what will use it, for example Zapier")

    def handle(self, *args, **options):
        try:
            organization_id = uuid.UUID(options["organization"].strip())
        except ValueError:
            raise CommandError(_("“%(value)s” is not an organization id (a UUID).") % {"value": options["organization"]})
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            raise CommandError(_("No organization has the id %(id)s.") % {"id": organization_id})
        name = options["name"].strip()
        field = ApiKey._meta.get_field("name")
        try:
            field.clean(name, None)
        except ValidationError as error:
            raise CommandError(_("--name: %(errors)s") % {"errors": " ".join(error.messages)})
        api_key, key = api_key_create(organization_id=organization.pk, name=name)
        self.stdout.write(
            _("API key “%(name)s” for %(organization)s, starting with %(prefix)s. Shown once; keep it secret:")
            % {"name": api_key.name, "organization": organization.name, "prefix": api_key.prefix}
        )
        self.stdout.write(key)
