"""Account health (``check_health`` of every provider, over real HTTP against the simulator), Meta's
quality and account webhooks read into changes, and read receipts."""

import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime

import pytest

from tools.providers import (
    AccountUpdate,
    CustomHttpProvider,
    InfobipProvider,
    MetaCloudProvider,
    TwilioProvider,
    WebhookRequest,
    health,
)
from tools.providers.receipts import send_read_receipts, send_read_receipts_later
from tools.simulator.control import configure, read_receipts, set_phone_number

SID = "ACsim000000000000000000000000000000"
NUMBER = "100000000000001"


def meta(base_url, **kwargs):
    settings = {"phone_number_id": NUMBER, "access_token": "token", "app_secret": "secret", "waba_id": "waba"}
    return MetaCloudProvider(base_url=base_url, **{**settings, **kwargs})


def twilio(base_url, token="auth-token"):
    return TwilioProvider(account_sid=SID, auth_token=token, sender="+15005550006", base_url=base_url)


def infobip(base_url, key="key"):
    return InfobipProvider(base_url=base_url, api_key=key, sender="ACME", webhook_token="t")


def custom(base_url, health_url="/custom/health"):
    return CustomHttpProvider(
        url=f"{base_url}/custom/send",
        body_template="{}",
        auth_header="Authorization: Bearer gw",
        health_url=health_url and f"{base_url}{health_url}",
    )


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# Meta


def test_meta_reads_the_phone_number_node(simulator):
    result = meta(simulator).check_health()
    assert (result.state, result.problem) == (health.OK, None)
    assert result.info == {
        "display_phone_number": "+1 555-010-0001",
        "verified_name": "Simulated Business",
        "quality_rating": "GREEN",
        "messaging_limit_tier": "TIER_1K",
        "name_status": "APPROVED",
        "code_verification_status": "VERIFIED",
    }


def test_meta_low_quality_is_a_warning(simulator):
    set_phone_number(simulator, phone_number_id=NUMBER, quality_rating="RED", messaging_limit_tier="TIER_250")
    result = meta(simulator).check_health()
    assert (result.state, result.problem) == (health.WARNING, health.QUALITY)
    assert result.ok
    assert (result.info["quality_rating"], result.info["messaging_limit_tier"]) == ("RED", "TIER_250")


def test_meta_expired_token_names_the_token(simulator):
    configure(simulator, meta_access_token="the-right-token")
    result = meta(simulator).check_health()
    assert (result.state, result.problem, result.code) == (health.ERROR, health.CREDENTIALS, "190")
    assert "Invalid OAuth access token" in result.detail


@pytest.mark.parametrize(
    ("code", "problem"),
    [("100", health.NOT_FOUND), ("803", health.NOT_FOUND), ("10", health.PERMISSION), ("200", health.PERMISSION)],
)
def test_meta_errors_name_what_is_wrong(simulator, code, problem):
    configure(simulator, fail_next=[code])
    result = meta(simulator).check_health()
    assert (result.state, result.problem, result.code) == (health.ERROR, problem, code)


def test_meta_unreachable_and_unconfigured():
    assert meta(closed_port_url()).check_health().problem == health.UNREACHABLE
    assert meta("http://127.0.0.1:9", access_token="").check_health().problem == health.NOT_CONFIGURED


def test_meta_health_answer_is_the_number_not_a_media(simulator):
    """The same path without phone number fields still reads a media (the route falls through)."""
    info = meta(simulator)._call("GET", "some-media-id")
    assert info["mime_type"] == "image/png"


# Twilio


def test_twilio_active_account(simulator):
    result = twilio(simulator).check_health()
    assert (result.state, result.problem) == (health.OK, None)
    assert result.info == {"friendly_name": "Simulated Twilio account", "status": "active", "type": "Full"}


def test_twilio_wrong_auth_token(simulator):
    configure(simulator, twilio_credentials={SID: "the-right-token"})
    result = twilio(simulator).check_health()
    assert (result.state, result.problem, result.code) == (health.ERROR, health.CREDENTIALS, "20003")


def test_twilio_suspended_and_trial_accounts(simulator):
    configure(simulator, twilio_account_status="suspended")
    result = twilio(simulator).check_health()
    assert (result.state, result.problem, result.info["status"]) == (health.ERROR, health.ACCOUNT, "suspended")
    configure(simulator, twilio_account_status="active", twilio_account_type="Trial")
    result = twilio(simulator).check_health()
    assert (result.state, result.problem) == (health.WARNING, health.TRIAL)


def test_twilio_unreachable_and_unconfigured():
    assert twilio(closed_port_url()).check_health().problem == health.UNREACHABLE
    assert twilio("http://127.0.0.1:9", token="").check_health().problem == health.NOT_CONFIGURED


# Infobip


def test_infobip_balance(simulator):
    result = infobip(simulator).check_health()
    assert (result.state, result.info) == (health.OK, {"balance": 100.0, "currency": "EUR"})


def test_infobip_wrong_key_and_no_credit(simulator):
    configure(simulator, infobip_api_key="the-right-key")
    result = infobip(simulator).check_health()
    assert (result.state, result.problem, result.code) == (health.ERROR, health.CREDENTIALS, "401")
    assert "Invalid login details" in result.detail
    configure(simulator, infobip_api_key=None, infobip_balance=0)
    result = infobip(simulator).check_health()
    assert (result.state, result.problem, result.info["balance"]) == (health.ERROR, health.NO_CREDIT, 0)


def test_infobip_unreachable():
    assert infobip(closed_port_url()).check_health().problem == health.UNREACHABLE


# Custom gateway


def test_custom_health_url(simulator):
    assert custom(simulator).check_health().state == health.OK
    configure(simulator, fail_next=["http:503", "http:404", "http:401"])
    assert custom(simulator).check_health().problem == health.UNREACHABLE
    assert custom(simulator).check_health().problem == health.NOT_FOUND
    result = custom(simulator).check_health()
    assert (result.problem, result.code) == (health.CREDENTIALS, "401")
    assert custom(simulator, health_url=None).check_health().problem == health.NOT_CONFIGURED


# Meta's quality and account webhooks


def test_quality_update_changes():
    flagged = health.account_update_changes(
        "phone_number_quality",
        "FLAGGED",
        {"current_limit": "TIER_1K", "max_daily_conversations_per_business": "TIER_2K"},
    )
    assert flagged == {"quality_rating": "RED", "messaging_limit_tier": "TIER_2K"}
    assert health.account_update_changes("phone_number_quality", "UNFLAGGED", {}) == {"quality_rating": "UNKNOWN"}
    assert health.account_update_changes("phone_number_quality", "UPGRADE", {"current_limit": "TIER_10K"}) == {
        "messaging_limit_tier": "TIER_10K"
    }
    # A tier this version does not know is left out rather than stored wrong
    assert health.account_update_changes("phone_number_quality", "UPGRADE", {"current_limit": "TIER_5M"}) == {}
    assert health.account_update_changes("template_quality", "RED", {"new_quality_score": "RED"}) == {}


def test_account_update_changes():
    restriction = health.account_update_changes(
        "account_update",
        "ACCOUNT_RESTRICTION",
        {"restriction_info": [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1641330498}]},
    )
    assert restriction == {
        "restriction": "RESTRICTED_BIZ_INITIATED_MESSAGING",
        "restricted_until": datetime.fromtimestamp(1641330498, tz=UTC),
    }
    assert health.account_update_changes(
        "account_update", "DISABLED_UPDATE", {"ban_info": {"waba_ban_state": "DISABLE"}}
    ) == {"restriction": "DISABLED", "restricted_until": None}
    assert health.account_update_changes(
        "account_update", "DISABLED_UPDATE", {"ban_info": {"waba_ban_state": "REINSTATE"}}
    ) == {"restriction": "", "restricted_until": None}
    assert health.account_update_changes("account_update", "ACCOUNT_VIOLATION", {"violation_info": {}}) == {}


def test_tier_limits():
    assert [health.tier_limit(t) for t in ("TIER_250", "TIER_1K", "TIER_100K", "TIER_UNLIMITED", None)] == [
        250,
        1000,
        100000,
        None,
        None,
    ]


def test_simulator_posts_a_signed_quality_update(simulator, receiver):
    answer = set_phone_number(
        simulator,
        phone_number_id=NUMBER,
        quality_rating="RED",
        url=receiver.url + "/webhook",
        app_secret="secret",
        waba_id="waba",
    )
    assert answer["posted"] and answer["phone_number"]["quality_rating"] == "RED"
    [posted] = receiver.wait_for(1)
    body = posted["body"]
    expected = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert posted["headers"]["X-Hub-Signature-256"] == expected
    provider = meta(simulator)
    request = WebhookRequest.build("POST", receiver.url, posted["headers"], body)
    provider.verify_webhook(request)
    [event] = provider.parse_webhook(request)
    assert isinstance(event, AccountUpdate) and provider.owns_event(event)
    assert (event.kind, event.event, event.phone_number) == ("phone_number_quality", "FLAGGED", "+15550100001")
    assert health.account_update_changes(event.kind, event.event, event.details) == {
        "quality_rating": "RED",
        "messaging_limit_tier": "TIER_1K",
    }
    # A lower tier is a DOWNGRADE
    set_phone_number(simulator, phone_number_id=NUMBER, messaging_limit_tier="TIER_250", url=receiver.url + "/w")
    value = json.loads(receiver.wait_for(2)[1]["body"])["entry"][0]["changes"][0]["value"]
    assert (value["event"], value["old_limit"], value["current_limit"]) == ("DOWNGRADE", "TIER_1K", "TIER_250")


# Read receipts


def test_read_receipts_reach_the_simulator(simulator):
    provider = meta(simulator)
    send_read_receipts_later([(provider, "wamid.A"), (provider, "wamid.B")]).join(10)
    assert [(r["phone_number_id"], r["message_id"]) for r in read_receipts(simulator)] == [
        (NUMBER, "wamid.A"),
        (NUMBER, "wamid.B"),
    ]


def test_a_failed_read_receipt_is_logged_not_raised(simulator, caplog):
    configure(simulator, meta_access_token="the-right-token")
    send_read_receipts([(meta(simulator), "wamid.C"), (meta(simulator, access_token="the-right-token"), "wamid.D")])
    assert [r["message_id"] for r in read_receipts(simulator)] == ["wamid.D"]
    assert "wamid.C" in caplog.text
