"""WhatsApp's 24 h customer service window, in one place (tools/window.py)."""

from datetime import datetime, timedelta

from tools.window import WHATSAPP_WINDOW, window_end, window_open

NOW = datetime(2026, 11, 26, 12, 0)


def test_the_window_closes_24_hours_after_the_last_message():
    assert timedelta(hours=24) == WHATSAPP_WINDOW
    assert window_end(NOW) == NOW + timedelta(hours=24)
    assert window_end(None) is False and window_end(False) is False, "no message from the customer: no window"


def test_open_strictly_before_its_end():
    end = window_end(NOW - timedelta(hours=23, minutes=59))
    assert window_open(end, NOW)
    assert not window_open(window_end(NOW - timedelta(hours=24)), NOW), "closed at its very end"
    assert not window_open(False, NOW)
