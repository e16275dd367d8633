"""URLs of the configuration, parsed once with :func:`urllib.parse.urlsplit` and checked for
what the clients that will use them refuse later (an invalid IPv6 literal, a port out of range, a
host httpx would raise ``InvalidURL`` for). One parser per kind, used by the configuration, the
collector, the simulators and the CLI alike, so a URL accepted at start-up is one they can use."""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

# RFC 3986 reg-name characters a host may hold (letters, digits, '-', '.', '_', '~'); anything else
# is percent-quoted by httpx or refused by the resolver, never a host anyone meant.
_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-._~")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str  # an IPv6 literal without its brackets
    port: int
    tls: bool


def _split(url: str, schemes: tuple[str, ...]) -> SplitResult:
    """The parts of an absolute URL of one of ``schemes`` with a valid host and port."""
    if not url.isprintable() or any(c.isspace() for c in url):
        raise ValueError("contains a space or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from exc
    if parts.scheme not in schemes:
        raise ValueError(f"the scheme must be one of {', '.join(s + '://' for s in schemes)}")
    host = parts.hostname
    if not host:
        raise ValueError("no host")
    _check_host(host, bracketed="[" in parts.netloc)
    if port == 0:
        raise ValueError("port 0 is no port to connect to (1-65535)")
    return parts


def _check_host(host: str, *, bracketed: bool) -> None:
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError(f"invalid IPv6 address {host!r}") from exc
        return
    if not host.isascii():
        raise ValueError(f"host {host!r}: write an international name in its ASCII (xn--) form")
    if not set(host) <= _HOST_CHARS:
        raise ValueError(f"host {host!r} has characters no host name has")
    if host.replace(".", "").isdigit():  # dotted digits: an IPv4 address, or nothing
        try:
            ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise ValueError(f"invalid IPv4 address {host!r}") from exc


def parse_mqtt_url(url: str) -> BrokerAddress:
    """``mqtt://host[:port]`` (1883) or ``mqtts://host[:port]`` (8883); the host may be an IPv6
    literal in brackets (``mqtt://[::1]:1883``). Credentials belong in ``[mqtt]`` username and
    password, not in the URL. Raises ``ValueError`` with the reason."""
    parts = _split(url, ("mqtt", "mqtts"))
    if parts.username is not None or parts.password is not None:
        raise ValueError("no credentials in the URL: set mqtt.username and mqtt.password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], without a path or query")
    tls = parts.scheme == "mqtts"
    assert parts.hostname is not None  # _split refuses a URL without a host
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls)


def check_http_url(url: str) -> str:
    """An ``http://`` or ``https://`` URL that httpx and urllib3 accept (webhooks, InfluxDB);
    answers it unchanged. Raises ``ValueError`` with the reason."""
    _split(url, ("http", "https"))
    return url
