"""Phone numbers to and from E.164, with phonenumbers (no parsing of our own)."""

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
