"""Where webhooks may go: http(s) URLs whose host is a public address, unless an allow-list says otherwise.

The deliverer POSTs from inside the network the service runs in, to a URL an admin key registered.
Unchecked, that URL could reach the cloud metadata service (169.254.169.254), the host itself
(127.0.0.1, [::1]), or the private network (10/8, 172.16/12, 192.168/16, fc00::/7): server-side request
forgery. So a target's host is resolved and **every** address it resolves to must be public (not
loopback, private, link-local, unspecified, shared/CGNAT, reserved, multicast, nor an IPv6 form that
embeds such an IPv4 address), at registration and again at each delivery, and the deliverer connects
to the address it checked (:meth:`ResolvedTarget.request`): a DNS answer that changes between the check
and the connection (DNS rebinding) cannot redirect it. ``CIVRISK_WEBHOOK_ALLOW_HOSTS`` lists host names,
addresses or networks that may be reached although not public (a receiver on the same host or network).

URLs with credentials (``user:password@host``) are refused: receivers authenticate deliveries by their
signature, and a password stored in a URL would be shown wherever URLs are.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from civrisk.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_ALLOW_SETTING = "CIVRISK_WEBHOOK_ALLOW_HOSTS"


class TargetRefused(ValueError):
    """A webhook URL may not be used; the message says why and how to fix it (never the URL's credentials)."""


def resolve_host(host: str, port: int) -> list[str]:
    """Return the addresses ``host`` resolves to (TCP), in the resolver's order; OSError if it does not."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def address_kind(ip: IPAddress) -> str | None:
    """Return why ``ip`` is not a public address (e.g. ``'loopback'``), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and (kind := address_kind(embedded)) is not None:
            return f"{kind}, embedded in IPv6"
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local, e.g. cloud metadata"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared address space (CGNAT)"),
        (ip.is_private, "private network"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    ]
    return next((why for hit, why in checks if hit), None)


@dataclass(frozen=True)
class ResolvedTarget:
    """A checked webhook target: the URL as registered and the address to connect to."""

    url: str
    host: str
    """The URL's host (IDNA-encoded name, or the address as written)."""
    address: str
    """The checked address the request is sent to."""

    def request(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """Return (URL with the host replaced by the checked address, headers, httpx request extensions).

        ``Host`` keeps the registered name; for https, TLS sends it as SNI and checks the certificate
        against it (httpx's ``sni_hostname`` extension).
        """
        parts = urlsplit(self.url)
        ip = ipaddress.ip_address(self.address)
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        netloc = f"{literal}:{parts.port}" if parts.port is not None else literal
        host_header = _bracket(self.host) + (f":{parts.port}" if parts.port is not None else "")
        url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        extensions: dict[str, Any] = {}
        if parts.scheme == "https" and not _is_ip(self.host):
            extensions["sni_hostname"] = self.host
        return url, {"Host": host_header}, extensions


class TargetPolicy:
    """Which webhook URLs are allowed: public http(s) hosts, plus the allow-list's hosts and networks."""

    def __init__(self, allow: Iterable[str] = (), resolve: Resolver | None = None) -> None:
        self.hosts: set[str] = set()
        self.networks: list[IPNetwork] = []
        for entry in allow:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.hosts.add(entry.strip().rstrip(".").lower())
        self.resolve = resolve
        """How host names are resolved; None: :func:`resolve_host` (the system resolver)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        """Return the policy of ``settings.webhook_allow_hosts``."""
        return cls(settings.webhook_allow_hosts)

    def check_syntax(self, url: str) -> SplitResult:
        """Return the parts of an http(s) URL with a host, a port and no credentials; else TargetRefused."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TargetRefused(f"webhook url is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            raise TargetRefused(f"webhook url must be http:// or https://; got scheme {parts.scheme!r}")
        if "@" in parts.netloc:
            raise TargetRefused(
                "webhook url must not carry credentials (user:password@host): receivers authenticate "
                "deliveries by their signature (X-Civrisk-Signature), so register the URL without them"
            )
        if not parts.hostname:
            raise TargetRefused("webhook url has no host; expected e.g. https://hooks.example.org/civrisk")
        if port == 0:
            raise TargetRefused("webhook url has port 0; give the receiver's port or none")
        return parts

    def resolve_target(self, url: str) -> ResolvedTarget:
        """Return the target of ``url`` with the address to connect to; TargetRefused when it may not be used.

        Every address the host resolves to must be public, or inside an allowed network, unless the host
        name itself is allowed; the first address is the one to connect to.
        """
        parts = self.check_syntax(url)
        host = _host(parts)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [host] if _is_ip(host) else (self.resolve or resolve_host)(host, port)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(
                f"webhook host {host!r} does not resolve ({getattr(exc, 'strerror', None) or exc}); register "
                "it once its name resolves"
            ) from None
        if not addresses:
            raise TargetRefused(f"webhook host {host!r} resolves to no address")
        if host not in self.hosts:
            for text in addresses:
                ip = ipaddress.ip_address(text)
                kind = address_kind(ip)
                if kind is not None and not any(ip in net for net in self.networks):
                    raise TargetRefused(
                        f"webhook host {host!r} resolves to {ip} ({kind}), which is not a public address; "
                        f"webhooks go to public http(s) addresses only, unless {_ALLOW_SETTING} lists the "
                        "host or its network"
                    )
        return ResolvedTarget(url=url, host=host, address=addresses[0])


def _host(parts: SplitResult) -> str:
    host = (parts.hostname or "").rstrip(".")
    if _is_ip(host):
        return str(ipaddress.ip_address(host))
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise TargetRefused(f"webhook host {host!r} is not a valid host name") from None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
