"""What a provider's failure means for the agent: what happened and what to do, in words.

Providers answer with codes and terse texts ("(#131026) Message Undeliverable"); the inbox shows
this explanation first and keeps the code and the raw text one click away.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    what: str
    todo: str


UNREACHABLE = Explanation(
    "The message could not be delivered to this number.",
    "Check the number with the customer, or reach them on the other channel.",
)
NOT_ON_WHATSAPP = Explanation(
    "This number cannot receive WhatsApp messages (not on WhatsApp, or an old app version).",
    "Check the number, or send an SMS instead.",
)
WINDOW = Explanation(
    "More than 24 hours have passed since the customer's last message.",
    "Send an approved template: free text is only allowed inside the 24-hour window.",
)
THROTTLED = Explanation(
    "The provider is limiting how fast messages are sent.",
    "Nothing to do: it is retried automatically. Retry it yourself if it stays failed.",
)
CONFIGURATION = Explanation(
    "The provider refused the account's credentials or settings.",
    "Ask an administrator to check the number or provider configuration (token, sender, permissions).",
)
OPTED_OUT = Explanation(
    "The customer unsubscribed from messages on this number.",
    "Do not resend; they can reply START to subscribe again.",
)
MARKETING_LIMIT = Explanation(
    "WhatsApp did not deliver this marketing message to keep the customer's experience healthy.",
    "Do not resend now; try again in a few days or reach the customer another way.",
)
REFUSED = Explanation(
    "The contact centre did not send it.",
    "Read the reason: the customer opted out, the window closed or the configuration is not allowed.",
)
UNKNOWN = Explanation(
    "The provider did not deliver the message.", "Retry it; if it fails again, tell an administrator."
)

EXPLANATIONS = {
    "meta": {
        "131026": NOT_ON_WHATSAPP,
        "131047": WINDOW,
        "131049": MARKETING_LIMIT,
        "131050": OPTED_OUT,
        "131021": Explanation("The recipient is the sending number itself.", "Check the contact's number."),
        "130429": THROTTLED,
        "131056": THROTTLED,
        "80007": THROTTLED,
        "4": THROTTLED,
        "190": CONFIGURATION,
        "10": CONFIGURATION,
        "200": CONFIGURATION,
        "131031": CONFIGURATION,
        "132000": Explanation(
            "The template's variables do not match the template approved by Meta.",
            "Ask a supervisor to check the template.",
        ),
        "132001": Explanation(
            "Meta does not know this template in this language.", "Ask a supervisor to sync or resubmit the template."
        ),
    },
    "twilio": {
        "30003": UNREACHABLE,
        "30005": UNREACHABLE,
        "30008": UNREACHABLE,
        "30004": Explanation("The number blocks messages from us.", "Reach the customer another way."),
        "30006": Explanation(
            "The number is a landline or cannot receive SMS.", "Ask the customer for a mobile number."
        ),
        "30007": Explanation(
            "The carrier filtered the message as spam.", "Rephrase it (fewer links and capitals) and retry."
        ),
        "21610": OPTED_OUT,
        "21211": Explanation("The number is not valid.", "Correct the contact's number."),
        "21614": Explanation("The number is not a mobile number.", "Ask the customer for a mobile number."),
        "21408": CONFIGURATION,
        "21606": CONFIGURATION,
        "20003": CONFIGURATION,
        "63016": WINDOW,
        "20429": THROTTLED,
        "30001": THROTTLED,
    },
    "infobip": {
        "REJECTED_NOT_ENOUGH_CREDITS": Explanation(
            "The Infobip account has no credit left.", "Ask an administrator to top up the account."
        ),
        "REJECTED_SENDER": CONFIGURATION,
        "REJECTED_DESTINATION": UNREACHABLE,
        "REJECTED_NETWORK": UNREACHABLE,
        "REJECTED_PREFIX_MISSING": Explanation("The number has no country prefix.", "Correct the contact's number."),
        "27": UNREACHABLE,
    },
}
OWN_CODES = {"refused": REFUSED, "too_large": Explanation("The media is too large.", "Send a smaller file.")}


def explain(provider, code):
    """The ``Explanation`` of a failure ``code`` of ``provider`` (ours first, then the provider's)."""
    code = str(code or "")
    return OWN_CODES.get(code) or EXPLANATIONS.get(provider or "", {}).get(code) or UNKNOWN
