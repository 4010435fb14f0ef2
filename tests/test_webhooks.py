"""Webhook delivery to a REAL receiver (http.server on 127.0.0.1): signatures, retries, the attempt log.

The receiver listens on loopback, which the target policy refuses by default: these tests allow it
explicitly through the allow-list setting (``webhook_allow_hosts``), as an operator would.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lxml import etree

from civrisk.settings import Settings
from civrisk.weeks import utc_now
from serve.webhooks import (
    DELIVERY_HEADER,
    MESSAGE_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryPolicy,
    deliver_pending,
    deliveries,
    sign,
    verify_signature,
)
from tests.api_fixtures import free_port, open_api, publish_week

SECRET = "receiver-shared-secret-0123456789"
CAP_XSD = Settings().shared_data.parent / "schemas" / "CAP-v1.2.xsd"
FAST = DeliveryPolicy(timeout_s=2.0, retries_in_run=2, retry_delay_s=0.5, backoff_base_s=60.0)


class Receiver:
    """A webhook receiver on loopback: checks each request's signature and records it."""

    def __init__(
        self, port: int, status: int = 200, delay_s: float = 0.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.port, self.status = port, status
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                valid = verify_signature(SECRET, self.headers, body)
                receiver.received.append({"headers": dict(self.headers), "body": body, "valid": valid})
                code = receiver.status if valid else 401
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"no")

            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:  # an https receiver
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


LOOPBACK = ("127.0.0.1",)


@pytest.fixture()
def api(tmp_path, backend):
    yield from open_api(tmp_path, webhook_allow_hosts=LOOPBACK, backend=backend)


def _subscribe(api, port, formats=("json", "cap")):
    body = {"url": f"http://127.0.0.1:{port}/civrisk", "secret": SECRET, "formats": list(formats)}
    r = api.client.post("/v1/webhooks", json=body, headers=api.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _new_messages(api, week="2020-06-22", seed=5):
    pub = publish_week(api.store, week, seed=seed, fingerprint=f"fp-{week}")
    rows = api.store.alerts(publication_id=pub.id)
    assert len(rows) > 0
    return rows


def test_down_receiver_then_up_gets_every_message_on_a_later_run(api):
    port = free_port()
    hook = _subscribe(api, port)
    rows = _new_messages(api)
    n = len(rows) * 2  # json and cap per message
    sleeps: list[float] = []

    # 1. the receiver is down (nothing listens on the port): the run returns, nothing is lost
    down = deliver_pending(api.store, api.settings, FAST, sleep=sleeps.append)  # returns: never waits on it
    assert (down.queued, down.delivered, down.failed_attempts, down.pending) == (n, 0, 3, n)
    assert sleeps == [0.5, 1.0]  # exponential quick retries within the run
    log = deliveries(api.store.engine, hook)
    tried = [d for d in log if d["attempt_log"]]
    assert len(tried) == 1  # the first message (cap before json); the rest of its queue waited
    first = tried[0]
    assert (first["message_id"], first["format"]) == (rows.sort_values("id")["message_id"].iloc[0], "cap")
    assert [a["attempt"] for a in first["attempt_log"]] == [1, 2, 3]
    assert all(a["status_code"] is None and "ConnectError" in a["error"] for a in first["attempt_log"])
    assert first["status"] == "pending" and first["attempts"] == 3
    wait = (first["next_attempt_at"] - utc_now()).total_seconds()
    assert 60 * 4 - 5 < wait <= 60 * 4  # backoff_base_s * 2^(3-1) after three failed attempts
    assert all(d["attempts"] == 0 for d in log if d["id"] != first["id"])

    # 2. a run before the backoff has passed sends nothing
    assert deliver_pending(api.store, api.settings, FAST, sleep=sleeps.append).failed_attempts == 0

    # 3. the receiver is back: the next due run delivers everything, in message order, signed
    receiver = Receiver(port)
    try:
        up = deliver_pending(api.store, api.settings, FAST, now=utc_now() + timedelta(minutes=5))
    finally:
        receiver.stop()
    assert (up.queued, up.delivered, up.failed_attempts, up.pending) == (0, n, 0, 0)
    assert len(receiver.received) == n and all(r["valid"] for r in receiver.received)
    kinds = [r["headers"]["Content-Type"] for r in receiver.received]
    assert kinds == ["application/cap+xml", "application/json"] * len(rows)
    got_ids = [r["headers"]["X-Civrisk-Message-Id"] for r in receiver.received[::2]]
    assert got_ids == rows.sort_values("id")["message_id"].tolist()
    log = deliveries(api.store.engine, hook)
    assert all(d["status"] == "delivered" and d["last_status_code"] == 200 for d in log)
    assert [a["ok"] for a in next(d for d in log if d["id"] == first["id"])["attempt_log"]] == [0, 0, 0, 1]

    # 4. nothing is sent twice
    again = deliver_pending(api.store, api.settings, FAST, now=utc_now() + timedelta(days=1))
    assert (again.queued, again.delivered, again.failed_attempts) == (0, 0, 0)


@pytest.mark.skipif(not CAP_XSD.is_file(), reason=f"CAP schema {CAP_XSD} is absent")
def test_payloads_json_and_cap(api):
    port = free_port()
    _subscribe(api, port)
    rows = _new_messages(api)
    receiver = Receiver(port)
    try:
        deliver_pending(api.store, api.settings, FAST)
    finally:
        receiver.stop()
    schema = etree.XMLSchema(etree.parse(str(CAP_XSD)))
    by_id = rows.set_index("message_id")
    for r in receiver.received:
        mid = r["headers"]["X-Civrisk-Message-Id"]
        if r["headers"]["Content-Type"] == "application/cap+xml":
            doc = etree.fromstring(r["body"])
            schema.assertValid(doc)
            assert doc.findtext("{*}identifier") == mid
        else:
            doc = json.loads(r["body"])
            assert doc["type"] == "civrisk.alert_message" and doc["delivery_id"] == int(
                r["headers"]["X-Civrisk-Delivery"]
            )
            msg = doc["message"]
            assert msg["message_id"] == mid and msg["p"] == pytest.approx(by_id.loc[mid, "p"], nan_ok=True)
            assert msg["msg_type"] == by_id.loc[mid, "msg_type"]


def test_receiver_errors_are_logged_and_a_delivery_gives_up_after_max_attempts(api):
    port = free_port()
    hook = _subscribe(api, port, formats=("json",))
    _new_messages(api)
    receiver = Receiver(port, status=500)
    policy = DeliveryPolicy(
        timeout_s=2.0, retries_in_run=1, retry_delay_s=0.0, backoff_base_s=0.0, max_attempts=4
    )
    try:
        first = deliver_pending(api.store, api.settings, policy, sleep=lambda s: None)
        second = deliver_pending(api.store, api.settings, policy, sleep=lambda s: None)
    finally:
        receiver.stop()
    assert first.failed_attempts == 2 and first.gave_up == 0
    assert second.failed_attempts == 2 and second.gave_up == 1
    log = deliveries(api.store.engine, hook)
    assert log[0]["status"] == "failed" and log[0]["attempts"] == 4
    assert [a["status_code"] for a in log[0]["attempt_log"]] == [500] * 4
    assert log[0]["last_error"].startswith("HTTP 500")
    assert all(r["valid"] for r in receiver.received)


def test_new_subscriptions_start_after_the_newest_message_and_stopped_ones_get_nothing(api):
    port = free_port()
    assert len(api.store.alerts()) > 0  # history exists before subscribing
    hook = _subscribe(api, port)
    receiver = Receiver(port)
    try:
        assert deliver_pending(api.store, api.settings, FAST).queued == 0
        api.client.delete(f"/v1/webhooks/{hook}", headers=api.auth("admin"))
        _new_messages(api)
        report = deliver_pending(api.store, api.settings, FAST)
    finally:
        receiver.stop()
    assert report.queued == 0 and receiver.received == []


def test_two_runs_at_once_send_each_message_once_and_in_order(api):
    port = free_port()
    hook = _subscribe(api, port, formats=("json",))
    rows = _new_messages(api)
    receiver = Receiver(port, delay_s=0.01)
    reports = []
    runs = [
        threading.Thread(target=lambda: reports.append(deliver_pending(api.store, api.settings, FAST)))
        for _ in range(2)
    ]
    try:
        for run in runs:
            run.start()
        for run in runs:
            run.join(60)
    finally:
        receiver.stop()
    got = [r["headers"]["X-Civrisk-Message-Id"] for r in receiver.received]
    assert got == rows.sort_values("id")["message_id"].tolist()  # each once, in order
    assert sum(r.delivered for r in reports) == len(rows)
    assert all(d["status"] == "delivered" for d in deliveries(api.store.engine, hook))


def _headers(ts: int, delivery: str = "17", message_id: str = "civrisk-a.1", body: bytes = b'{"a":1}'):
    return {
        DELIVERY_HEADER: delivery,
        MESSAGE_ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(SECRET, delivery, message_id, ts, body),
    }


def test_verify_signature_refuses_tampering_stale_future_and_missing():
    body, now = b'{"a":1}', 1_717_222_215
    good = _headers(now)
    assert good[SIGNATURE_HEADER].startswith("v2=") and len(good[SIGNATURE_HEADER]) == 3 + 64
    assert verify_signature(SECRET, good, body, now=now)
    assert verify_signature(SECRET, {k.lower(): v for k, v in good.items()}, body, now=now)  # any case
    assert not verify_signature(SECRET, good, b'{"a":2}', now=now)  # body changed
    assert not verify_signature("another-secret-0000", good, body, now=now)
    for name, forged in [
        (DELIVERY_HEADER, "18"),  # a captured delivery re-sent under a new id (receivers dedupe on it)
        (MESSAGE_ID_HEADER, "civrisk-a.2"),
        (TIMESTAMP_HEADER, str(now + 1)),
    ]:
        assert not verify_signature(SECRET, {**good, name: forged}, body, now=now), name
    # fields cannot be shifted between headers and body: the line breaks keep them apart
    shifted = {**good, MESSAGE_ID_HEADER: "civrisk-a"}
    assert not verify_signature(SECRET, shifted, b"1\n" + body, now=now)
    # replay window: at most 300 s old, at most 60 s ahead of the receiver's clock
    assert verify_signature(SECRET, _headers(now - 300), body, now=now)
    assert not verify_signature(SECRET, _headers(now - 301), body, now=now)
    assert verify_signature(SECRET, _headers(now - 301), body, now=now, tolerance_s=400)
    assert verify_signature(SECRET, _headers(now + 60), body, now=now)
    assert not verify_signature(SECRET, _headers(now + 61), body, now=now)
    assert not verify_signature(SECRET, _headers(now + 86_400), body, now=now)  # far future
    for name in good:
        assert not verify_signature(SECRET, {k: v for k, v in good.items() if k != name}, body, now=now)
    assert not verify_signature(SECRET, {**good, TIMESTAMP_HEADER: "not-a-time"}, body, now=now)
    assert not verify_signature(SECRET, {**good, DELIVERY_HEADER: "-17"}, body, now=now)
    assert not verify_signature(SECRET, {**good, MESSAGE_ID_HEADER: "a\nb"}, body, now=now)


def test_a_captured_delivery_resent_with_a_new_id_fails_verification(api):
    port = free_port()
    _subscribe(api, port, formats=("json", "cap"))
    _new_messages(api)
    receiver = Receiver(port)
    try:
        deliver_pending(api.store, api.settings, FAST)
    finally:
        receiver.stop()
    assert receiver.received and all(r["valid"] for r in receiver.received)
    for captured in receiver.received[:4]:  # a CAP and a JSON delivery of two messages
        headers = dict(captured["headers"])
        assert verify_signature(SECRET, headers, captured["body"])
        other = str(int(headers[DELIVERY_HEADER]) + 1000)
        assert not verify_signature(SECRET, {**headers, DELIVERY_HEADER: other}, captured["body"])
        assert not verify_signature(SECRET, {**headers, MESSAGE_ID_HEADER: "civrisk-x.1"}, captured["body"])


def test_deliver_pending_on_a_store_that_never_ran_serve(tmp_path) -> None:
    """The weekly cycle delivers before anyone ran `civrisk serve`: the webhook tables are created on use."""
    from publish.store.store import ScoreStore
    from serve.webhooks import deliver_pending

    with ScoreStore(f"sqlite:///{tmp_path / 'fresh.db'}") as store:
        report = deliver_pending(store, Settings(home=tmp_path))
    assert (report.queued, report.delivered, report.pending) == (0, 0, 0)


def test_the_receiver_recipe_in_the_docs_verifies_like_the_helper():
    """docs/API.md gives receivers a stand-alone verify(); it must accept and refuse what the helper does."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "API.md").read_text(encoding="utf-8")
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "def verify(" in b]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 (our own documentation)
    verify = namespace["verify"]
    now = int(time.time())
    body = b'{"type":"civrisk.alert_message"}'
    cases = {
        "fresh": (_headers(now, body=body), True),
        "new delivery id": ({**_headers(now, body=body), DELIVERY_HEADER: "18"}, False),
        "new message id": ({**_headers(now, body=body), MESSAGE_ID_HEADER: "civrisk-b.1"}, False),
        "old": (_headers(now - 400, body=body), False),
        "future": (_headers(now + 120, body=body), False),
        "slightly ahead": (_headers(now + 30, body=body), True),
    }
    for name, (headers, expected) in cases.items():
        assert verify(SECRET, headers, body) is expected, name
        assert verify_signature(SECRET, headers, body) is expected, name
    assert not verify(SECRET, _headers(now, body=body), body + b" ")
