"""Account health: what a provider says about an account, in one shape for every provider.

Each provider client's ``check_health()`` answers a ``HealthResult`` and never raises: a failure
becomes a result whose ``problem`` says what is wrong (the Odoo side words it for the administrator)
and whose ``detail`` keeps the provider's own text and code. The WhatsApp number's quality rating and
messaging limit also change through Meta's webhooks: ``account_update_changes`` reads them.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from .base import RETRY

# HealthResult.state
OK = "ok"
WARNING = "warning"  # it works, but something needs attention (low quality, trial account)
ERROR = "error"  # messages cannot go out through this account

# HealthResult.problem: what is wrong, for the administrator
CREDENTIALS = "credentials"  # token, auth token or API key refused (expired, revoked, mistyped)
NOT_FOUND = "not_found"  # the phone number id, account SID or URL names nothing
PERMISSION = "permission"  # authenticated, but not allowed to use this number or account
UNREACHABLE = "unreachable"  # network failure, timeout, provider down or throttling
ACCOUNT = "account"  # the account itself is suspended or closed
NO_CREDIT = "no_credit"  # prepaid balance used up
QUALITY = "quality"  # WhatsApp quality rating low (red)
TRIAL = "trial"  # Twilio trial account: only verified numbers can be reached
NOT_CONFIGURED = "not_configured"  # a credential or URL the check needs is empty
UNKNOWN = "unknown"

# Meta's (Graph API) error codes of a phone number read: what each one means here.
META_PROBLEMS = {
    "190": CREDENTIALS,  # access token invalid or expired (subcodes 460, 463, 467...)
    "102": CREDENTIALS,  # session key invalid
    "100": NOT_FOUND,  # "Unsupported get request. Object with ID ... does not exist"
    "803": NOT_FOUND,  # "Some of the aliases you requested do not exist"
    "33": NOT_FOUND,
    "10": PERMISSION,  # application does not have permission for this action
    "200": PERMISSION,  # permissions error
    "3": PERMISSION,
}
TWILIO_PROBLEMS = {"20003": CREDENTIALS, "20404": NOT_FOUND, "20005": ACCOUNT, "20008": PERMISSION}
HTTP_PROBLEMS = {401: CREDENTIALS, 403: PERMISSION, 404: NOT_FOUND}

# WhatsApp messaging limits: unique customers reached in business-initiated conversations per 24 h.
QUALITY_RATINGS = ("GREEN", "YELLOW", "RED", "UNKNOWN")
TIER_LIMITS = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1000,
    "TIER_2K": 2000,
    "TIER_10K": 10000,
    "TIER_100K": 100000,
    "TIER_UNLIMITED": None,
    "TIER_NOT_SET": None,  # the number has not sent anything yet: Meta has not set its limit
}
# Account restrictions (account_update ACCOUNT_RESTRICTION, DISABLED_UPDATE) that stop campaigns.
CAMPAIGN_RESTRICTIONS = ("RESTRICTED_BIZ_INITIATED_MESSAGING", "DISABLED")


@dataclass(frozen=True)
class HealthResult:
    state: str  # OK, WARNING, ERROR
    problem: str | None = None  # one of the problems above, None when all is well
    detail: str = ""  # the provider's own words (with its code), for the administrator
    code: str | None = None  # the provider's error code
    info: dict = field(default_factory=dict)  # what the provider told: verified_name, quality_rating, balance...

    @property
    def ok(self):
        return self.state != ERROR


def failure(problem, detail="", code=None, info=None):
    return HealthResult(ERROR, problem, detail, None if code is None else str(code), dict(info or {}))


def error_problem(error, problems=None):
    """The problem a ``ProviderError`` of a health check names: the provider's code first, then
    the kind (transport failures, throttling, 5xx are ``UNREACHABLE``), then the HTTP status."""
    problem = (problems or {}).get(str(error.code)) if error.code is not None else None
    if problem:
        return problem
    if error.kind == RETRY:
        return UNREACHABLE
    return HTTP_PROBLEMS.get(error.http_status or 0, UNKNOWN)


def from_error(error, problems=None):
    """The failed ``HealthResult`` of a ``ProviderError``."""
    return failure(error_problem(error, problems), str(error), error.code)


def tier_limit(tier):
    """Unique customers per 24 h a messaging limit tier allows; None when unlimited or unknown."""
    return TIER_LIMITS.get(tier or "")


def account_update_changes(kind, event, details):
    """What an ``AccountUpdate`` (Meta's phone_number_quality_update or account_update webhook)
    changes on a number: a dict with any of ``quality_rating``, ``messaging_limit_tier``,
    ``restriction`` (types, comma-separated; "" lifts it) and ``restricted_until`` (aware UTC
    datetime or None). Empty for anything else.

    phone_number_quality_update: ``event`` FLAGGED (quality low: red), UNFLAGGED (back to medium or
    high, Meta does not say which), UPGRADE, DOWNGRADE, ONBOARDING, THROUGHPUT_UPGRADE...; the
    limit is ``max_daily_conversations_per_business`` (``current_limit`` before February 2026).
    account_update: ACCOUNT_RESTRICTION (``restriction_info``: restriction_type, expiration),
    DISABLED_UPDATE (``ban_info.waba_ban_state``: DISABLE, REINSTATE, SCHEDULE_FOR_DISABLE).
    """
    details = details if isinstance(details, dict) else {}
    event = (event or "").upper()
    changes = {}
    if kind == "phone_number_quality":
        tier = details.get("max_daily_conversations_per_business") or details.get("current_limit")
        if isinstance(tier, str) and tier.upper() in TIER_LIMITS:
            changes["messaging_limit_tier"] = tier.upper()
        quality = details.get("quality_rating") or details.get("new_quality_score")
        if isinstance(quality, str) and quality.upper() in QUALITY_RATINGS:
            changes["quality_rating"] = quality.upper()
        elif event == "FLAGGED":
            changes["quality_rating"] = "RED"
        elif event == "UNFLAGGED":
            changes["quality_rating"] = "UNKNOWN"
    elif kind == "account_update" and event == "ACCOUNT_RESTRICTION":
        infos = details.get("restriction_info") or details.get("restrictions") or []
        infos = [infos] if isinstance(infos, dict) else infos
        types, ends = [], []
        for info in infos if isinstance(infos, list) else ():
            if isinstance(info, dict) and isinstance(info.get("restriction_type"), str):
                types.append(info["restriction_type"])
                ends.append(_moment(info.get("expiration")))
        if types:
            changes["restriction"] = ",".join(types)
            changes["restricted_until"] = None if None in ends else max(ends)
    elif kind == "account_update" and event == "DISABLED_UPDATE":
        state = ((details.get("ban_info") or {}).get("waba_ban_state") or "").upper()
        if state == "DISABLE":
            changes.update(restriction="DISABLED", restricted_until=None)
        elif state == "REINSTATE":
            changes.update(restriction="", restricted_until=None)
    return changes


def _moment(value):
    """Aware UTC datetime of a unix time or an ISO 8601 string, None when there is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(int(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
