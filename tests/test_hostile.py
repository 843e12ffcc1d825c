"""Hostile or broken receivers, as real servers on 127.0.0.1: slow, silent, resetting, bad TLS,
huge bodies, and Retry-After. No mocks: the transport talks to real sockets."""
import datetime as dt
import socket
import ssl
import struct
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from email.utils import format_datetime

import pytest
import trustme
from django.utils import timezone

from webhooks import services, transport
from webhooks.devtools.receiver import Receiver
from webhooks.models import Delivery

from .conftest import completed_call
from .helpers.servers import RawServer, trickling


def post(url):
    return transport.post(url, body=b'{"a":1}', headers={"Content-Type": "application/json"})


# A complete, valid response, one byte a second.
trickle = trickling(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000, interval=1)


def silent(conn, server):
    server.closed.wait(30)  # accept, read nothing, answer nothing


def reset(conn, server):
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close → RST


def huge_body(conn, server):
    conn.recv(65536)
    size = 50 * 1024 * 1024
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
    chunk = b"y" * 65536
    for _ in range(size // len(chunk)):
        conn.sendall(chunk)


def test_trickling_and_silent_servers_are_cut_at_10_s_in_total():
    # given: one server that answers a byte a second, one that never answers
    with RawServer(trickle) as slow, RawServer(silent) as mute, ThreadPoolExecutor(2) as pool:
        # when: both are called at once, with the product's default 10 s deadline
        started = time.monotonic()
        results = list(pool.map(post, [slow.url(), mute.url()]))
        elapsed = time.monotonic() - started
    # then
    assert [r.error_class for r in results] == ["timeout", "timeout"]
    assert all(9_900 <= r.duration_ms < 11_500 for r in results), [r.duration_ms for r in results]
    assert elapsed < 12


def test_a_reset_connection_is_a_connection_error():
    with RawServer(reset) as server:
        result = post(server.url())
    assert result.error_class == "connection" and result.status_code is None


def test_a_50_mb_body_is_read_only_in_part_and_memory_stays_flat():
    with RawServer(huge_body) as server:
        tracemalloc.start()
        result = post(server.url())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert result.ok and len(result.excerpt) == 1024
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while reading a 50 MB body"


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def trusted(ca, tmp_path, settings):
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    settings.WEBHOOKS_CA_BUNDLE = str(bundle)
    return ca


def tls_receiver(cert):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return Receiver(ssl_context=context)


def test_a_valid_certificate_is_accepted(trusted):
    with tls_receiver(trusted.issue_cert("localhost")) as receiver:
        result = post(f"https://localhost:{receiver.url.split(':')[2]}")
    assert result.ok, result.error_message
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    "make_cert",
    [
        pytest.param(lambda ca: trustme.CA().issue_cert("localhost"), id="untrusted-self-made-ca"),
        pytest.param(lambda ca: ca.issue_cert("other.example"), id="wrong-host"),
        pytest.param(
            lambda ca: ca.issue_cert("localhost", not_after=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)),
            id="expired",
        ),
    ],
)
def test_a_bad_certificate_is_a_tls_error_and_nothing_is_sent(trusted, make_cert):
    with tls_receiver(make_cert(trusted)) as receiver:
        result = post(f"https://localhost:{receiver.url.split(':')[2]}")
    assert result.error_class == "tls", result
    assert receiver.received == []


# --- Retry-After ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    "header, expected",
    [
        (lambda now: "120", 120),
        (lambda now: format_datetime(now + dt.timedelta(seconds=600), usegmt=True), 600),
        (lambda now: "999999999", 3600),  # absurd: bounded by WEBHOOKS_RETRY_AFTER_MAX
    ],
)
def test_retry_after_from_a_real_server(settings, organization, make_integration, status, header, expected):
    settings.WEBHOOKS_RETRY_AFTER_MAX = 3600
    with Receiver(secret="s3cret", responder=lambda r: (status, b"slow down", {"Retry-After": header(timezone.now())})) as receiver:
        make_integration(receiver.url)
        completed_call(organization)
        delivery = Delivery.objects.get()
        attempt = services.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert attempt.status_code == status and delivery.status == "pending"
    waited = (delivery.next_attempt_at - attempt.started_at).total_seconds()
    assert expected - 2 <= waited <= expected + 2
