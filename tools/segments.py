"""SMS encoding and segment count (GSM 03.38 and UCS-2), as carriers bill them."""

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SmsInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int
    remaining: int  # units left in the last segment


def _is_gsm7(text):
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _gsm7_units(text):
    """Septets of each character: 2 for the extension table (escape + char), 1 otherwise."""
    return [2 if ch in GSM7_EXTENSION else 1 for ch in text]


def _ucs2_units(text):
    """UTF-16 code units of each character: 2 for a surrogate pair (most emoji), 1 otherwise."""
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _fill_segments(units, single, multi):
    """(segments, per_segment, units in the last segment), never splitting one character's units
    (an escape pair, a surrogate pair) across two segments."""
    total = sum(units)
    if total <= single:
        return (1 if total else 0), single, total
    segments, used = 1, 0
    for size in units:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return segments, multi, used


def sms_info(text):
    """Encoding, size and segment count of ``text`` sent as one (possibly concatenated) SMS."""
    text = text or ""
    if _is_gsm7(text):
        encoding, units, single, multi = "GSM-7", _gsm7_units(text), GSM7_SINGLE, GSM7_MULTI
    else:
        encoding, units, single, multi = "UCS-2", _ucs2_units(text), UCS2_SINGLE, UCS2_MULTI
    segments, per_segment, last = _fill_segments(units, single, multi)
    return SmsInfo(encoding, sum(units), segments, per_segment, per_segment - last)
