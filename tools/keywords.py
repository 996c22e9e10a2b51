"""Keyword matching for automations, campaigns and opt-out: whole words, any case or accent."""

import re
import unicodedata

OPT_OUT_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT")
OPT_IN_WORDS = ("START", "YES", "UNSTOP")
HELP_WORDS = ("HELP", "INFO")

_WORD = re.compile(r"\w+")


def normalize(text):
    """Case-folded words of ``text`` without accents or punctuation, joined by single spaces."""
    decomposed = unicodedata.normalize("NFKD", str(text or ""))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_WORD.findall(bare.casefold()))


def parse_keywords(csv_text):
    """``"join, Start ,  HELP me"`` -> ``["join", "Start", "HELP me"]``."""
    return [word.strip() for word in str(csv_text or "").split(",") if word.strip()]


def match_keyword(text, keywords):
    """The first of ``keywords`` that appears in ``text`` as whole word(s), or None."""
    padded = f" {normalize(text)} "
    for keyword in keywords:
        needle = normalize(keyword)
        if needle and f" {needle} " in padded:
            return keyword
    return None


def opt_command(text, extra_out=(), extra_in=(), extra_help=()):
    """``"opt_out"``, ``"opt_in"``, ``"help"`` or None.

    Only a message that is the command word alone counts (as carriers do), so that "please don't
    stop" is a conversation, not an opt-out.
    """
    message = normalize(text)
    if not message:
        return None
    for command, words in (
        ("opt_out", (*OPT_OUT_WORDS, *extra_out)),
        ("opt_in", (*OPT_IN_WORDS, *extra_in)),
        ("help", (*HELP_WORDS, *extra_help)),
    ):
        if message in {normalize(word) for word in words}:
            return command
    return None
