"""Phone numbers to and from E.164, with phonenumbers (no parsing of our own), and the kind of a
sender address (phone number, short code, alphanumeric sender id, WhatsApp user id)."""

import re

import phonenumbers
from phonenumbers import timezone as phone_timezone

_PREFIXES = ("whatsapp:", "tel:", "sms:")


class InvalidPhoneNumber(ValueError):
    """A number phonenumbers cannot read as a valid, dialable number."""


def _strip_scheme(number):
    text = (number or "").strip()
    for prefix in _PREFIXES:
        if text.lower().startswith(prefix):
            return text[len(prefix) :].strip()
    return text


def _parse(number, default_region=None):
    text = _strip_scheme(number)
    if not text:
        raise InvalidPhoneNumber("An empty phone number is not valid.")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber(f"{number!r} cannot be read as a phone number ({error}).") from error
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{number!r} is not a valid phone number.")
    return parsed


def to_e164(number, default_region=None):
    """``number`` in E.164 (``+32470123456``); ``default_region`` (ISO code) reads national numbers."""
    return phonenumbers.format_number(_parse(number, default_region), phonenumbers.PhoneNumberFormat.E164)


def wa_id_to_e164(wa_id):
    """A WhatsApp id (digits with the country code, no +) as E.164."""
    digits = "".join(ch for ch in str(wa_id or "") if ch.isdigit())
    return to_e164("+" + digits)


def e164_to_wa_id(e164):
    """The digits Meta expects in ``to`` and sends in ``wa_id``."""
    return "".join(ch for ch in str(e164 or "") if ch.isdigit())


def region_of(e164):
    """ISO region code of an E.164 number, or None."""
    try:
        return phonenumbers.region_code_for_number(_parse(e164)) or None
    except InvalidPhoneNumber:
        return None


def timezone_of(e164):
    """The first time zone phonenumbers knows for the number, or None (used for quiet hours)."""
    try:
        zones = phone_timezone.time_zones_for_number(_parse(e164))
    except InvalidPhoneNumber:
        return None
    zone = zones[0] if zones else None
    return None if zone in (None, "Etc/Unknown") else zone


# Kinds of sender address (``classify_sender``)
PHONE = "phone"  # a phone number, in E.164
SHORT_CODE = "short_code"  # an SMS short code (3 to 8 digits): a service, never a person's number
ALPHANUMERIC = "alphanumeric"  # an SMS sender id such as "MTN" or "ACME"
USER_ID = "user_id"  # a WhatsApp business-scoped user id (BSUID), e.g. "US.13491208655302741918"
SENDER_KINDS = (PHONE, SHORT_CODE, ALPHANUMERIC, USER_ID)

# Meta: "a two-letter ISO country code, a period, and up to 128 alphanumeric characters"; a parent
# BSUID has "ENT" between them (US.ENT.11815799212886844830).
_BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
_NUMBER_PUNCTUATION = str.maketrans("", "", " -().\u00a0")
_MAX_SHORT_CODE = 8  # digits: short codes are 3 to 8 digits long across the world


def is_user_id(value):
    """Whether ``value`` is written as a WhatsApp business-scoped user id (BSUID or parent BSUID)."""
    return isinstance(value, str) and bool(_BSUID.match(value.strip()))


def classify_sender(value, default_region=None):
    """(kind, address) of a sender or recipient address a provider wrote.

    The kind is one of ``SENDER_KINDS``. The address is E.164 for a phone number (a number that
    phonenumbers does not know, such as a provider's test number, keeps its digits behind a "+"),
    else the identifier as written, without a ``whatsapp:`` scheme. Digits are read as an
    international number (providers write them so, with or without "+"), or first as a national
    number of ``default_region`` when one is given. Up to 8 digits that make no valid number are
    a short code; anything with letters is an alphanumeric sender id, unless it is a BSUID.
    """
    text = _strip_scheme(str(value) if value is not None else "")
    if not text:
        return ALPHANUMERIC, ""
    if is_user_id(text):
        return USER_ID, text
    digits = text.translate(_NUMBER_PUNCTUATION)
    digits = digits[1:] if digits.startswith("+") else digits
    if not (digits.isascii() and digits.isdigit()):
        return ALPHANUMERIC, text
    candidates = ([text] if default_region and not text.startswith("+") else []) + ["+" + digits]
    for candidate in candidates:
        try:
            return PHONE, to_e164(candidate, default_region)
        except InvalidPhoneNumber:
            continue
    if len(digits) <= _MAX_SHORT_CODE:
        return SHORT_CODE, text
    return PHONE, "+" + digits
