"""Run a local webhook receiver that checks headers and signatures and prints what arrives."""
import json
import time

from django.core.management.base import BaseCommand

from webhooks.devtools.receiver import Received, Receiver


class Command(BaseCommand):
    help = "Listen on 127.0.0.1 and print every webhook received, with its contract check."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--secret", default="demo-secret", help="the signing secret to verify with")

    def handle(self, *args, **options):
        def respond(received: Received):
            verdict = "OK, signature verified" if not received.problems else "PROBLEMS: " + "; ".join(received.problems)
            self.stdout.write(f"\n<- {received.headers.get('X-InboundFlow-Event')} {received.delivery_id}: {verdict}")
            self.stdout.write(json.dumps(received.json, indent=2, ensure_ascii=False))
            return 200, b'{"received":true}', {}

        with Receiver(secret=options["secret"], responder=respond, port=options["port"]) as receiver:
            self.stdout.write(
                f"Demo receiver at {receiver.url} (signing secret: {options['secret']}). "
                "Connect it as a Custom webhook."
            )
            while True:
                time.sleep(3600)
