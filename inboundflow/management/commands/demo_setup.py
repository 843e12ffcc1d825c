"""Create (or reuse) the demo organization and its user, and say how to log in."""
from django.core.management.base import BaseCommand

from inboundflow.models import Organization, User


class Command(BaseCommand):
    help = "Create the demo organization and user used by `make run`."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")

    def handle(self, *args, **options):
        organization, _ = Organization.objects.get_or_create(name="Main Street Auto (demo)")
        user, created = User.objects.get_or_create(
            username=options["username"], defaults={"organization": organization, "is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(options["password"])
            user.save()
            password = options["password"]
        else:
            password = "(unchanged; `manage.py changepassword` resets it)"
        self.stdout.write(
            self.style.SUCCESS("Demo ready.")
            + f"\n  Organization: {organization.name} ({organization.pk})"
            + f"\n  Log in at http://127.0.0.1:8000/ as {user.username} / {password}"
        )
