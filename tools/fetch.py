"""Fetching inbound media from a URL a provider named, without letting that URL go anywhere.

A webhook payload (or an API answer) names the media URL; the provider's credentials must go with
the request, so ``fetch_media`` refuses every URL that is not on one of the provider's documented
media hosts (or the configured base URL, which is how the local simulator is reached), insists on
HTTPS, refuses hosts that resolve to private addresses, follows redirects by hand re-checking each
hop, sends the credentials only to the provider's own hosts, and bounds both the size and the time
of the whole download.
"""

import ipaddress
import re
import socket
import time
from urllib.parse import urljoin

import requests
import urllib3

from .providers.base import RECIPIENT, RETRY, ProviderError, classify_http_status

DEFAULT_MAX_BYTES = 16 << 20
CHUNK = 64 << 10
REDIRECTS = {301, 302, 303, 307, 308}
DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")

KB, MB = 1 << 10, 1 << 20
# WhatsApp's own size limits per media kind (Cloud API, "Supported media types"). Stickers are
# 100 KB static and 500 KB animated: an inbound sticker does not say which, so the larger one.
WHATSAPP_MEDIA_LIMITS = {
    "audio": 16 * MB,
    "document": 100 * MB,
    "image": 5 * MB,
    "sticker": 500 * KB,
    "video": 16 * MB,
}


def media_limit(kind, default=DEFAULT_MAX_BYTES):
    """WhatsApp's size limit of a media ``kind`` (``image``, ``document``...), else ``default``."""
    return WHATSAPP_MEDIA_LIMITS.get(kind, default)


def fetch_media(
    session,
    url,
    *,
    allowed_hosts,
    base_url,
    credential_hosts,
    headers=None,
    auth=None,
    max_bytes=None,
    deadline=30.0,
    timeout=10.0,
    max_redirects=5,
):
    """(content, content type) of the media at ``url``; ``ProviderError`` when refused or failed.

    ``allowed_hosts`` and ``credential_hosts`` hold exact host names or ``.suffix`` entries (any
    subdomain); the host *and* port of ``base_url`` are always both. ``headers`` and ``auth`` carry
    the credentials: they go only to credential hosts, never to a redirect target elsewhere.
    ``max_bytes`` is always enforced (a default when not given); ``deadline`` bounds the whole
    fetch, redirects included, and ``timeout`` each request.
    """
    limit = max_bytes if max_bytes and max_bytes > 0 else DEFAULT_MAX_BYTES
    base = _parse(base_url) if base_url else None
    ends_at = time.monotonic() + deadline
    for _hop in range(max_redirects + 1):
        url, to_credential_host = _check(url, allowed_hosts, credential_hosts, base)
        response = _get(session, url, to_credential_host, headers, auth, min(timeout, _remaining(ends_at)))
        try:
            if response.status_code not in REDIRECTS:
                return _read(response, limit, ends_at), response.headers.get("Content-Type")
            location = response.headers.get("Location")
        finally:
            response.close()
        if not location:
            raise ProviderError(RECIPIENT, "Media download refused: a redirect without a Location", code="redirect")
        url = urljoin(url, location)
    raise ProviderError(
        RECIPIENT, f"Media download refused: more than {max_redirects} redirects", code="too_many_redirects"
    )


def _refuse(reason, code):
    return ProviderError(RECIPIENT, f"Media download refused: {reason}", code=code)


def _parse(url):
    """(URL as requests sends it, scheme, host, port), the port made explicit.

    Checked on what will be sent, with the parser that picks the connection: another parser's
    idea of the host can differ (``urlsplit`` reads ``https://evil.com\\.api.infobip.com`` as an
    Infobip host, requests goes to evil.com).
    """
    try:
        sent = requests.Request("GET", url).prepare().url
        parts = urllib3.util.parse_url(sent)
    except ValueError as error:  # requests' InvalidURL, MissingSchema..., urllib3's LocationParseError
        raise _refuse("the URL cannot be read", "bad_url") from error
    scheme = (parts.scheme or "").lower()
    host = (parts.host or "").strip("[]").rstrip(".").lower()
    if parts.auth is not None:
        raise _refuse("the URL carries credentials of its own", "bad_url")
    if host and not (HOST_NAME.fullmatch(host) or _is_ip(host)):
        raise _refuse("the URL's host is not a host name", "bad_url")
    return sent, scheme, host, parts.port or DEFAULT_PORTS.get(scheme)


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_matches(host, patterns):
    return any(host == p or (p.startswith(".") and host.endswith(p)) for p in patterns)


def _check(url, allowed_hosts, credential_hosts, base):
    """``url`` as it is to be sent, and whether it may receive the credentials; refused unless it
    may be fetched at all."""
    sent, scheme, host, port = _parse(url)
    if scheme not in DEFAULT_PORTS or not host:
        raise _refuse("only HTTPS URLs are fetched", "insecure_scheme")
    is_base = base is not None and (host, port) == base[2:]
    if not is_base and not _host_matches(host, allowed_hosts):
        raise _refuse(f"host {host} is not an allowed media host", "host_not_allowed")
    if scheme != "https" and not (is_base and base[1] == "http"):
        raise _refuse(f"plain HTTP to {host}, only HTTPS is fetched", "insecure_scheme")
    if not is_base:
        _check_addresses(host, port)
    return sent, is_base or _host_matches(host, credential_hosts)


def _check_addresses(host, port):
    """Refuse a host that resolves to any private, loopback, link-local, reserved, multicast or
    unspecified address (the host name is a provider's, its DNS answer need not be)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise ProviderError(RETRY, f"Media download failed: cannot resolve {host}", code="dns") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not _is_public(address):
            raise _refuse(f"host {host} resolves to a private address ({address})", "private_address")


def _is_public(address):
    address = getattr(address, "ipv4_mapped", None) or address
    special = (
        address.is_private,
        address.is_loopback,
        address.is_link_local,
        address.is_reserved,
        address.is_multicast,
        address.is_unspecified,
    )
    return address.is_global and not any(special)


def _strip_credentials(request):
    """``auth`` for a hop that must carry no credentials: drops whatever Authorization header the
    session would add (its default headers, its ``auth``, .netrc)."""
    request.headers.pop("Authorization", None)
    return request


def _get(session, url, to_credential_host, headers, auth, timeout):
    """One GET, redirects not followed; the credentials only when ``to_credential_host``.

    ``identity`` encoding: the byte limit then counts what travels, and no small compressed body
    can inflate into a large one in memory.
    """
    plain = {"Accept-Encoding": "identity"}
    if to_credential_host:
        headers, auth = {**(headers or {}), **plain}, auth
    else:
        headers, auth = plain, _strip_credentials
    try:
        return session.get(url, headers=headers, auth=auth, stream=True, allow_redirects=False, timeout=timeout)
    except requests.Timeout as error:
        raise ProviderError(RETRY, "Media download failed: timed out", code="timeout") from error
    except requests.RequestException as error:
        raise ProviderError(
            RETRY, f"Media download failed: cannot reach the host ({type(error).__name__})", code="network"
        ) from error


def _remaining(ends_at):
    left = ends_at - time.monotonic()
    if left <= 0:
        raise ProviderError(RETRY, "Media download failed: too slow, the deadline passed", code="too_slow")
    return left


def _read(response, limit, ends_at):
    """The body of ``response``, refusing more than ``limit`` bytes or going past ``ends_at``."""
    if response.status_code >= 400:
        raise ProviderError(
            classify_http_status(response.status_code),
            f"Media download failed: HTTP {response.status_code}",
            code=response.status_code,
            http_status=response.status_code,
        )
    too_large = _refuse(f"the media is larger than {limit} bytes", "too_large")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    # read1 returns what one read of the socket gives: a trickle cannot hold a chunk past the deadline.
    read = getattr(response.raw, "read1", response.raw.read)
    content = bytearray()
    try:
        while chunk := read(CHUNK, decode_content=True):
            content += chunk
            if len(content) > limit:
                raise too_large
            _remaining(ends_at)
    except urllib3.exceptions.ReadTimeoutError as error:
        raise ProviderError(RETRY, "Media download failed: timed out", code="timeout") from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise ProviderError(
            RETRY, f"Media download failed: the transfer broke ({type(error).__name__})", code="network"
        ) from error
    return bytes(content)
