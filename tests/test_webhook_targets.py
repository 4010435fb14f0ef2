"""Where webhooks may go: public http(s) addresses only unless allowed, checked at registration and delivery.

Host names are resolved by stand-in resolvers (no DNS in tests); numeric host forms use the system
resolver, which parses them without asking DNS. Deliveries go to a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from pathlib import Path

import pytest

from serve.webhook_targets import ResolvedTarget, TargetPolicy, TargetRefused, address_kind
from serve.webhooks import deliver_pending, deliveries
from tests.api_fixtures import free_port, open_api, publish_week
from tests.test_webhooks import FAST, SECRET, Receiver

PUBLIC = "93.184.215.14"
TLS = Path(__file__).parent / "tls"
"""A self-signed certificate for receiver.example.org (and its key), valid until 2126, made with
``openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
-subj /CN=receiver.example.org -addext subjectAltName=DNS:receiver.example.org
-addext basicConstraints=critical,CA:TRUE -keyout receiver.key -out receiver.crt``."""


def fixed(*addresses: str):
    """Return a resolver that answers ``addresses`` for any host."""
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "link-local, e.g. cloud metadata"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private network"),
        ("172.16.0.1", "private network"),
        ("172.31.255.254", "private network"),
        ("192.168.1.1", "private network"),
        ("fc00::1", "private network"),
        ("fd12:3456::1", "private network"),
        ("fe80::1", "link-local, e.g. cloud metadata"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "shared address space (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback, embedded in IPv6"),
        ("::ffff:169.254.169.254", "link-local, e.g. cloud metadata, embedded in IPv6"),
        ("2002:a9fe:a9fe::1", "link-local, e.g. cloud metadata, embedded in IPv6"),  # 6to4
        ("64:ff9b::a00:1", "private network, embedded in IPv6"),  # NAT64
    ],
)
def test_non_public_addresses_are_named(address, kind):
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "172.32.0.1", "11.0.0.1"])
def test_public_addresses_pass(address):
    assert address_kind(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8000/",
        "http://[::1]/hook",
        "http://10.0.0.5/",
        "https://172.20.1.1/",
        "http://192.168.0.10/",
        "http://[fc00::5]/",
        "http://[fe80::1%25eth0]/",
        "http://0.0.0.0:8000/",
        "http://2130706433/",  # 127.0.0.1 in decimal
        "http://0x7f000001/",
        "http://127.1/",
        "http://[::ffff:7f00:1]/",
    ],
)
def test_urls_to_non_public_addresses_are_refused(url):
    with pytest.raises(
        TargetRefused, match=r"which is not a public address; webhooks go to public http\(s\)"
    ):
        TargetPolicy().resolve_target(url)


def test_host_names_are_judged_by_every_address_they_resolve_to():
    assert TargetPolicy(resolve=fixed(PUBLIC)).resolve_target("https://hooks.example.org/x").address == PUBLIC
    for answer in (["169.254.169.254"], [PUBLIC, "10.0.0.1"], ["::1"]):
        policy = TargetPolicy(resolve=fixed(*answer))
        with pytest.raises(TargetRefused, match=re.escape("webhook host 'hooks.example.org' resolves to ")):
            policy.resolve_target("https://hooks.example.org/x")
    with pytest.raises(TargetRefused, match=re.escape("webhook host 'nowhere.invalid' does not resolve")):
        TargetPolicy(resolve=_unresolvable).resolve_target("http://nowhere.invalid/")


def _unresolvable(host: str, port: int) -> list[str]:
    raise OSError(-2, "Name or service not known")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.org/", "webhook url must be http:// or https://; got scheme 'ftp'"),
        ("file:///etc/passwd", "webhook url must be http:// or https://; got scheme 'file'"),
        ("gopher://127.0.0.1:6379/", "webhook url must be http:// or https://; got scheme 'gopher'"),
        ("https://user:hunter2@hooks.example.org/", "webhook url must not carry credentials"),
        ("https://tok3n@hooks.example.org/", "webhook url must not carry credentials"),
        ("https:///nohost", "webhook url has no host"),
        ("http://hooks.example.org:0/", "webhook url has port 0"),
        ("http://hooks.example.org:99999/", "webhook url is not a valid URL"),
    ],
)
def test_malformed_urls_and_credentials_are_refused_without_echo(url, message):
    with pytest.raises(TargetRefused, match=re.escape(message)) as info:
        TargetPolicy(resolve=fixed(PUBLIC)).resolve_target(url)
    assert "hunter2" not in str(info.value) and "tok3n" not in str(info.value)


def test_the_allow_list_admits_named_hosts_addresses_and_networks():
    policy = TargetPolicy(
        ["127.0.0.1", "10.20.0.0/16", "Hooks.Internal.", "[::1]"], resolve=fixed("10.99.0.1")
    )
    assert policy.resolve_target("http://127.0.0.1:9000/").address == "127.0.0.1"
    assert policy.resolve_target("http://[::1]:9000/").address == "::1"
    assert policy.resolve_target("http://10.20.3.4/").address == "10.20.3.4"
    assert policy.resolve_target("http://hooks.internal/x").address == "10.99.0.1"  # the name is allowed
    for url in (
        "http://127.0.0.2/",
        "http://10.21.0.1/",
        "http://169.254.169.254/",
        "http://other.internal/",
    ):
        with pytest.raises(TargetRefused, match="CIVRISK_WEBHOOK_ALLOW_HOSTS lists the host or its network"):
            policy.resolve_target(url)


def test_the_request_goes_to_the_checked_address_with_the_name_in_host_and_sni():
    target = ResolvedTarget("https://hooks.example.org:8443/in?x=1", "hooks.example.org", "2606:4700::1")
    assert target.request() == (
        "https://[2606:4700::1]:8443/in?x=1",
        {"Host": "hooks.example.org:8443"},
        {"sni_hostname": "hooks.example.org"},
    )
    plain = ResolvedTarget("http://hooks.example.org", "hooks.example.org", PUBLIC)
    assert plain.request() == (f"http://{PUBLIC}/", {"Host": "hooks.example.org"}, {})


# -- through the API and the deliverer ----------------------------------------------------------------


@pytest.fixture()
def api(tmp_path):
    yield from open_api(tmp_path, webhook_max_subscriptions=3)


def _post(api, url: str):
    return api.client.post("/v1/webhooks", json={"url": url, "secret": SECRET}, headers=api.auth("admin"))


def test_registration_refuses_non_public_targets_with_a_422_that_echoes_nothing(api):
    api.client.app.state.webhook_policy.resolve = fixed("169.254.169.254")
    for url in (
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://metadata.example.org/",  # a name that resolves to the metadata service
        "https://admin:hunter2@hooks.example.org/",
    ):
        r = _post(api, url)
        assert r.status_code == 422, url
        (error,) = r.json()["detail"]
        assert error["loc"] == ["body", "url"] and "input" not in error
        assert "hunter2" not in r.text
    assert api.get("/v1/webhooks", key="admin").json()["items"] == []


def test_active_subscriptions_are_capped(api):
    api.client.app.state.webhook_policy.resolve = fixed(PUBLIC)
    ids = [_post(api, f"https://hooks.example.org/{i}").json()["id"] for i in range(3)]
    r = _post(api, "https://hooks.example.org/3")
    assert r.status_code == 409
    assert r.json()["detail"] == (
        "3 webhook subscriptions are active, the most allowed (CIVRISK_WEBHOOK_MAX_SUBSCRIPTIONS=3); "
        "DELETE /v1/webhooks/<id> one no longer used, or raise the limit"
    )
    assert api.client.delete(f"/v1/webhooks/{ids[0]}", headers=api.auth("admin")).status_code == 204
    assert _post(api, "https://hooks.example.org/3").status_code == 201


def _new_messages(api):
    pub = publish_week(api.store, "2020-06-22", seed=5, fingerprint="fp-new")
    assert len(api.store.alerts(publication_id=pub.id)) > 0


def test_delivery_rechecks_the_target_and_a_rebound_name_gets_nothing(api):
    """Registered while the name resolved to a public address; at delivery it resolves to loopback."""
    port = free_port()
    api.client.app.state.webhook_policy.resolve = fixed(PUBLIC)
    hook = _post(api, f"http://rebind.example.org:{port}/hook").json()["id"]
    _new_messages(api)
    receiver = Receiver(port)
    try:
        report = deliver_pending(
            api.store, api.settings, FAST, targets=TargetPolicy(resolve=fixed("127.0.0.1"))
        )
    finally:
        receiver.stop()
    assert receiver.received == [] and report.delivered == 0 and report.failed_attempts == 3
    attempts = deliveries(api.store.engine, hook)[0]["attempt_log"]
    assert all(a["status_code"] is None for a in attempts)
    assert attempts[0]["error"].startswith(
        "target refused: webhook host 'rebind.example.org' resolves to 127.0.0.1 (loopback)"
    )


def test_delivery_connects_to_the_address_it_checked(api):
    """The name does not resolve in real DNS: the receiver is reached only through the checked address."""
    port = free_port()
    api.client.app.state.webhook_policy.resolve = fixed(PUBLIC)
    _post(api, f"http://receiver.example.org:{port}/hook")
    _new_messages(api)
    receiver = Receiver(port)
    try:
        allowed = TargetPolicy(["127.0.0.1"], resolve=fixed("127.0.0.1"))
        report = deliver_pending(api.store, api.settings, FAST, targets=allowed)
    finally:
        receiver.stop()
    assert report.delivered == len(receiver.received) > 0 and report.failed_attempts == 0
    assert all(r["valid"] for r in receiver.received)
    assert {r["headers"]["Host"] for r in receiver.received} == {f"receiver.example.org:{port}"}


def test_https_deliveries_to_the_checked_address_verify_the_certificate_for_the_name(api, monkeypatch):
    """Both names resolve to the same https receiver on 127.0.0.1, whose certificate names only one."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(TLS / "receiver.crt", TLS / "receiver.key")
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "receiver.crt"))  # the deliverer trusts the test's CA
    port = free_port()
    api.client.app.state.webhook_policy.resolve = fixed(PUBLIC)
    good = _post(api, f"https://receiver.example.org:{port}/hook").json()["id"]
    wrong = _post(api, f"https://impostor.example.org:{port}/hook").json()["id"]
    _new_messages(api)
    receiver = Receiver(port, tls=tls)
    try:
        allowed = TargetPolicy(["127.0.0.1"], resolve=fixed("127.0.0.1"))
        deliver_pending(api.store, api.settings, FAST, targets=allowed, sleep=lambda s: None)
    finally:
        receiver.stop()
    assert all(d["status"] == "delivered" for d in deliveries(api.store.engine, good))
    assert {r["headers"]["Host"] for r in receiver.received} == {f"receiver.example.org:{port}"}
    refused = deliveries(api.store.engine, wrong)[0]["attempt_log"]
    assert refused and all("CERTIFICATE_VERIFY_FAILED" in a["error"] for a in refused), refused[0]["error"]


def test_a_subscription_stored_with_credentials_is_listed_redacted_and_not_delivered(api):
    """A URL registered before the check: listings hide its password, and deliveries refuse it."""
    from civrisk.weeks import utc_now
    from serve import tables as st

    with st.writing(api.store.engine) as conn:
        conn.execute(
            st.webhooks.insert().values(
                url="https://ops:hunter2@hooks.example.org/in",
                secret=SECRET,
                formats="json",
                active=1,
                last_alert_row_id=0,
                created_at=utc_now(),
            )
        )
    listed = api.get("/v1/webhooks", key="admin")
    assert listed.json()["items"][0]["url"] == "https://[REDACTED]@hooks.example.org/in"
    assert "hunter2" not in listed.text
    public = TargetPolicy(resolve=fixed(PUBLIC))
    report = deliver_pending(api.store, api.settings, FAST, targets=public, sleep=lambda s: None)
    assert report.delivered == 0 and report.failed_attempts == 3
    (first, *_) = deliveries(api.store.engine)
    assert first["attempt_log"][0]["error"].startswith(
        "target refused: webhook url must not carry credentials"
    )
    assert all("hunter2" not in a["error"] for a in first["attempt_log"])
