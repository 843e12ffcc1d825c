"""A real SMTP server on 127.0.0.1 for the alert tests: it keeps what it receives, parsed as a
mail client would read it."""
import email
import email.policy
import socket
import threading

from aiosmtpd.controller import Controller


class SMTPInbox:
    """An SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self):
        self.messages, self.lock = [], threading.Lock()
        with socket.socket() as probe:  # a free port (the controller checks readiness by connecting)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"
