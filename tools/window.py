"""WhatsApp's customer service window: for 24 hours after a customer's last message, free text,
interactive messages and flows may be sent to them; outside it, only an approved template."""

from datetime import timedelta

WHATSAPP_WINDOW = timedelta(hours=24)


def window_end(last_inbound):
    """When the window opened by the customer's message at ``last_inbound`` closes (False: none)."""
    return last_inbound + WHATSAPP_WINDOW if last_inbound else False


def window_open(end, now):
    """Whether a window ending at ``end`` is open at ``now``."""
    return bool(end and end > now)
