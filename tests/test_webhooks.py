"""Webhook delivery to a REAL receiver (http.server on 127.0.0.1): signatures, retries, the attempt log."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lxml import etree

from civrisk.settings import Settings
from civrisk.weeks import utc_now
from serve.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryPolicy,
    deliver_pending,
    deliveries,
    sign,
    verify_signature,
)
from tests.api_fixtures import open_api, publish_week

SECRET = "receiver-shared-secret-0123456789"
CAP_XSD = Settings().shared_data.parent / "schemas" / "CAP-v1.2.xsd"
FAST = DeliveryPolicy(timeout_s=2.0, retries_in_run=2, retry_delay_s=0.5, backoff_base_s=60.0)


class Receiver:
    """A webhook receiver on loopback: checks each request's signature and records it."""

    def __init__(self, port: int, status: int = 200, delay_s: float = 0.0) -> None:
        self.port, self.status = port, status
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                valid = verify_signature(
                    SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER]
                )
                receiver.received.append({"headers": dict(self.headers), "body": body, "valid": valid})
                code = receiver.status if valid else 401
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"no")

            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def api(tmp_path, backend):
    yield from open_api(tmp_path, backend=backend)


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
    port = _free_port()
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
    port = _free_port()
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
    port = _free_port()
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
    port = _free_port()
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
    port = _free_port()
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


def test_verify_signature_refuses_tampering_stale_and_missing():
    body, ts = b'{"a":1}', int(time.time())
    header = sign(SECRET, ts, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, str(ts), body, header)
    assert not verify_signature(SECRET, str(ts), b'{"a":2}', header)  # body changed
    assert not verify_signature("another-secret-0000", str(ts), body, header)
    assert not verify_signature(SECRET, str(ts + 1), body, header)  # timestamp is signed too
    old = ts - 301
    assert not verify_signature(SECRET, str(old), body, sign(SECRET, old, body))  # replay after 5 min
    assert verify_signature(SECRET, str(old), body, sign(SECRET, old, body), tolerance_s=400)
    assert not verify_signature(SECRET, "not-a-time", body, header)
    assert not verify_signature(SECRET, str(ts), body, None)


def test_deliver_pending_on_a_store_that_never_ran_serve(tmp_path) -> None:
    """The weekly cycle delivers before anyone ran `civrisk serve`: the webhook tables are created on use."""
    from publish.store.store import ScoreStore
    from serve.webhooks import deliver_pending

    with ScoreStore(f"sqlite:///{tmp_path / 'fresh.db'}") as store:
        report = deliver_pending(store, Settings(home=tmp_path))
    assert (report.queued, report.delivered, report.pending) == (0, 0, 0)
