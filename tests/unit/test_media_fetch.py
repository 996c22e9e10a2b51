"""Inbound media is fetched only from where it should be, over real HTTP, for every provider.

Two local capture servers record every request they get: ``api`` plays the provider's API (the
configured base URL), ``foreign`` a host the media must not come from (same address, another port:
host and port must both match the base URL's to be allowed). A provider's documented media host
(lookaside.fbsbx.com, mms.twiliocdn.com...) is played by a capture server through a transport
mounted on the provider's session, with its DNS answer faked to a public address.
"""

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from tools import fetch
from tools.fetch import WHATSAPP_MEDIA_LIMITS, fetch_media, media_limit
from tools.providers import RECIPIENT, RETRY, InfobipProvider, MetaCloudProvider, ProviderError, TwilioProvider

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PUBLIC_IP = "93.184.215.14"
SID = "ACsim000000000000000000000000000000"


# Capture servers
class _Capture(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.requests.append({"path": path, "headers": {k.lower(): v for k, v in self.headers.items()}})
        route = self.server.routes.get(path)
        with contextlib.suppress(OSError):  # the client gave up (too large, too slow): expected
            route(self) if route else self.send_error(404)


class Capture(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Capture)
        self.lock = threading.Lock()
        self.requests, self.routes = [], {}
        self.port = self.server_port
        self.url = f"http://127.0.0.1:{self.port}"

    def route(self, path, respond):
        self.routes[path] = respond
        return f"{self.url}{path}"

    def paths(self):
        with self.lock:
            return [request["path"] for request in self.requests]

    def headers_of(self, path):
        with self.lock:
            return next(request["headers"] for request in self.requests if request["path"] == path)


def body(content=PNG, content_type="image/png", length=True):
    """Answer ``content``; without Content-Length, the end of the body is the end of the connection."""

    def respond(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        if length:
            handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    return respond


def announce(size, wait):
    """Announce a ``size`` byte PNG, then send nothing for ``wait`` seconds."""

    def respond(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        handler.wfile.flush()
        time.sleep(wait)

    return respond


def redirect(location, status=302):
    def respond(handler):
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


def trickle(size, delay):
    """Announce ``size`` bytes, then send them one at a time, ``delay`` seconds apart."""

    def respond(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        for _ in range(size):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(delay)

    return respond


def _serve():
    server = Capture()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def api():
    yield from _serve()


@pytest.fixture
def foreign():
    yield from _serve()


class Reroute(HTTPAdapter):
    """Transport that delivers what is addressed to https://<a documented host> to a capture server."""

    def __init__(self, server):
        super().__init__()
        self.server = server

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = urlunsplit(("http", f"127.0.0.1:{self.server.port}", parts.path, parts.query, ""))
        return super().send(request, **kwargs)


def reroute(provider, origin, server):
    """Make ``origin`` (``https://host``) reach ``server`` from the provider's API and media sessions."""
    for session in (provider._session, provider._media_session()):
        session.mount(origin, Reroute(server))


@pytest.fixture
def dns(monkeypatch):
    """Fake DNS answers: ``dns["host"] = "1.2.3.4"``; other names resolve as usual."""
    answers, real = {}, socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port or 443))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


# The three providers
@dataclass(frozen=True)
class Kit:
    name: str
    media_host: str  # a documented media host
    credential: str  # the Authorization header its downloads carry
    credential_goes_to_media_host: bool
    make: Callable  # base URL (None: the production one) -> provider

    def ref(self, api, url):
        """What a webhook names for the media at ``url``: a media id whose Graph answer gives the URL
        (Meta, with ``api`` as Graph), the URL itself otherwise."""
        if self.name != "meta":
            return url
        api.route("/v21.0/MEDIA1", body(json.dumps({"url": url, "id": "MEDIA1"}).encode(), "application/json"))
        return "MEDIA1"


def _meta(base_url):
    return MetaCloudProvider("100000000000001", "token", base_url=base_url or "https://graph.facebook.com")


def _twilio(base_url):
    return TwilioProvider(SID, "auth-token", base_url=base_url)


def _infobip(base_url):
    return InfobipProvider(base_url=base_url or "https://acme1.api.infobip.com", api_key="key")


TWILIO_AUTH = "Basic " + base64.b64encode(f"{SID}:auth-token".encode()).decode()
KITS = [
    Kit("meta", "lookaside.fbsbx.com", "Bearer token", True, _meta),
    Kit("twilio", "mms.twiliocdn.com", TWILIO_AUTH, False, _twilio),
    Kit("infobip", "media.api.infobip.com", "App key", True, _infobip),
]


@pytest.fixture(params=KITS, ids=lambda kit: kit.name)
def kit(request):
    return request.param


def refused(provider, ref, code, **kwargs):
    with pytest.raises(ProviderError) as caught:
        provider.download_media(ref, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


# Where media may come from
def test_a_foreign_host_is_refused_and_never_contacted(kit, api, foreign):
    provider = kit.make(api.url)
    error = refused(provider, kit.ref(api, f"{foreign.url}/m.png"), "host_not_allowed")
    assert error.kind == RECIPIENT and "127.0.0.1 is not an allowed media host" in str(error)
    assert foreign.paths() == []


def test_a_redirect_to_a_foreign_host_is_refused(kit, api, foreign):
    provider = kit.make(api.url)
    url = api.route("/m.png", redirect(f"{foreign.url}/stolen.png"))
    refused(provider, kit.ref(api, url), "host_not_allowed")
    assert foreign.paths() == []
    assert api.headers_of("/m.png")["authorization"] == kit.credential


def test_a_redirect_to_a_media_host_is_checked_again_and_gets_credentials_only_if_its_own(kit, api, foreign, dns):
    """Twilio's media host is a CDN that must not get the account's auth token; Meta's and
    Infobip's media hosts are theirs and require the token / API key."""
    provider = kit.make(api.url)
    dns[kit.media_host] = PUBLIC_IP
    reroute(provider, f"https://{kit.media_host}", foreign)
    foreign.route("/media/1", body())
    url = api.route("/m.png", redirect(f"https://{kit.media_host}/media/1"))

    content, mime_type, _name = provider.download_media(kit.ref(api, url))

    assert content == PNG and mime_type == "image/png"
    assert api.headers_of("/m.png")["authorization"] == kit.credential
    expected = kit.credential if kit.credential_goes_to_media_host else None
    assert foreign.headers_of("/media/1").get("authorization") == expected


def test_twilio_media_from_the_real_api_host_reaches_the_cdn_without_the_auth_token(api, foreign, dns):
    provider = _twilio(None)
    dns["mms.twiliocdn.com"] = PUBLIC_IP
    reroute(provider, "https://api.twilio.com", api)
    reroute(provider, "https://mms.twiliocdn.com", foreign)
    foreign.route("/AC1/ME1", body())
    path = f"/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1"
    api.route(path, redirect("https://mms.twiliocdn.com/AC1/ME1", status=307))

    content, _mime, _name = provider.download_media(f"https://api.twilio.com{path}")

    assert content == PNG
    assert api.headers_of(path)["authorization"] == TWILIO_AUTH
    assert "authorization" not in foreign.headers_of("/AC1/ME1")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_a_media_host_resolving_to_a_private_address_is_refused(kit, api, foreign, dns, address):
    provider = kit.make(api.url)
    dns[kit.media_host] = address
    error = refused(provider, kit.ref(api, f"https://{kit.media_host}:{foreign.port}/m.png"), "private_address")
    assert error.kind == RECIPIENT and "private address" in str(error)
    assert foreign.paths() == []


def test_plain_http_is_refused_when_the_base_url_is_https(kit, api, foreign):
    """Same host and port as the base URL, but the base URL is HTTPS: no plain HTTP to it."""
    https_base = f"https://127.0.0.1:{foreign.port}"
    provider = kit.make(https_base)
    reroute(provider, https_base, api)  # Graph's answer (Meta) comes from ``api``
    error = refused(provider, kit.ref(api, f"http://127.0.0.1:{foreign.port}/m.png"), "insecure_scheme")
    assert "plain HTTP" in str(error)
    assert foreign.paths() == []


def test_plain_http_to_a_media_host_is_refused(kit, api):
    provider = kit.make(api.url)
    refused(provider, kit.ref(api, f"http://{kit.media_host}/m.png"), "insecure_scheme")


# How much and how long
def test_the_byte_limit_is_checked_against_content_length_before_reading(kit, api):
    """The server announces too much and sends nothing: refused at once, without waiting for a byte."""
    provider = kit.make(api.url)
    provider.media_deadline = 2
    url = api.route("/big.png", announce(size=5000, wait=3))
    error = refused(provider, kit.ref(api, url), "too_large", max_bytes=1000)
    assert error.kind == RECIPIENT and "larger than 1000 bytes" in str(error)


def test_the_byte_limit_is_checked_while_streaming(kit, api):
    provider = kit.make(api.url)
    url = api.route("/big.png", body(b"x" * 300_000, length=False))
    refused(provider, kit.ref(api, url), "too_large", max_bytes=100_000)


def test_no_byte_limit_still_means_a_bounded_default(kit, api, monkeypatch):
    monkeypatch.setattr(fetch, "DEFAULT_MAX_BYTES", 1000)
    provider = kit.make(api.url)
    url = api.route("/big.png", body(b"x" * 5000, length=False))
    refused(provider, kit.ref(api, url), "too_large", max_bytes=None)


def test_a_trickling_server_runs_into_the_deadline(kit, api):
    provider = kit.make(api.url)
    provider.media_deadline = 0.5
    url = api.route("/slow.png", trickle(size=200, delay=0.05))
    began = time.monotonic()
    error = refused(provider, kit.ref(api, url), "too_slow")
    assert error.kind == RETRY
    assert time.monotonic() - began < 2


# What still works
def test_media_through_the_simulator_base_url(kit, simulator):
    provider = kit.make(simulator)
    ref = provider.upload_media(PNG, "image/png", "a.png") if kit.name == "meta" else f"{simulator}/_sim/media/ME1"
    content, mime_type, _name = provider.download_media(ref)
    assert content.startswith(b"\x89PNG") and mime_type == "image/png"


# fetch_media itself
POLICY = {"allowed_hosts": ("cdn.example.com", ".media.example.com"), "credential_hosts": ()}


def test_credentials_never_reach_a_host_that_is_not_a_credential_host(api, foreign, dns):
    """Neither the given headers and auth nor a default Authorization header of the session."""
    session = requests.Session()
    session.headers["Authorization"] = "Bearer session-default"
    session.mount("https://cdn.example.com", Reroute(foreign))
    dns["cdn.example.com"] = PUBLIC_IP
    foreign.route("/x.png", body())
    api.route("/m.png", redirect("https://cdn.example.com/x.png", status=301))

    content, content_type = fetch_media(
        session,
        f"{api.url}/m.png",
        base_url=api.url,
        headers={"X-Api-Key": "key"},
        auth=("user", "secret"),
        max_bytes=1000,
        **POLICY,
    )

    assert (content, content_type) == (PNG, "image/png")
    sent = api.headers_of("/m.png")
    assert (sent["x-api-key"], sent["authorization"]) == ("key", "Basic " + base64.b64encode(b"user:secret").decode())
    assert not {"x-api-key", "authorization"} & set(foreign.headers_of("/x.png"))


def test_relative_redirects_are_followed_and_loops_are_cut(api):
    api.route("/a", redirect("/b"))
    api.route("/b", body())
    assert fetch_media(requests.Session(), f"{api.url}/a", base_url=api.url, **POLICY)[0] == PNG

    api.route("/loop", redirect("/loop"))
    with pytest.raises(ProviderError) as caught:
        fetch_media(requests.Session(), f"{api.url}/loop", base_url=api.url, max_redirects=3, **POLICY)
    assert caught.value.code == "too_many_redirects"
    assert api.paths().count("/loop") == 4


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "100.64.0.1", "240.0.0.1"]
    + ["::", "::1", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"],
)
def test_every_non_public_address_is_refused(dns, address):
    dns["x.media.example.com"] = address
    with pytest.raises(ProviderError) as caught:
        fetch_media(requests.Session(), "https://x.media.example.com/m", base_url="https://api.example.com", **POLICY)
    assert caught.value.code == "private_address"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://evil.example.com/m", "host_not_allowed"),
        ("https://cdn.example.com.evil.com/m", "host_not_allowed"),
        ("https://media.example.com/m", "host_not_allowed"),  # ".media.example.com" is its subdomains only
        ("https://api.example.com:8443/m", "host_not_allowed"),  # the base URL's host, another port
        ("ftp://cdn.example.com/m", "insecure_scheme"),
        ("file:///etc/passwd", "insecure_scheme"),
        ("https://user:pw@cdn.example.com/m", "bad_url"),
        # Hosts read one way by urllib.parse and another by requests: judged as requests reads them.
        ("https://evil.com\\.media.example.com/m", "host_not_allowed"),
        ("https://evil.com\\@cdn.example.com/m", "host_not_allowed"),
        ("https://cdn.example.com%2f@evil.com/m", "bad_url"),
        ("https://cdn.example.com%00.evil.com/m", "bad_url"),
        ("not a url", "bad_url"),
    ],
)
def test_urls_refused_before_any_request(url, code):
    with pytest.raises(ProviderError) as caught:
        fetch_media(requests.Session(), url, base_url="https://api.example.com", **POLICY)
    assert caught.value.code == code


def test_whatsapp_media_limits():
    assert WHATSAPP_MEDIA_LIMITS == {
        "audio": 16 << 20,
        "document": 100 << 20,
        "image": 5 << 20,
        "sticker": 500 << 10,
        "video": 16 << 20,
    }
    assert media_limit("image") == 5 << 20
    assert media_limit("location", 123) == 123
