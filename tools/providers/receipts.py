"""Read receipts: telling WhatsApp that the business read a customer's message (blue ticks).

Sent off the agent's request, in a daemon thread, once the transaction that decided it committed:
the inbox never waits for Meta, and a failure is logged, never raised (a receipt is a courtesy).
"""

import logging
import threading

_logger = logging.getLogger(__name__)


def send_read_receipts(receipts, typing=False):
    """Mark each ``(provider, provider message id)`` of ``receipts`` read (with the typing indicator
    when ``typing``); failures are logged. Every provider of ``receipts`` has a
    ``mark_as_read(message_id, typing=False)``."""
    for provider, message_id in receipts:
        try:
            if typing:
                provider.mark_as_read(message_id, typing=True)
            else:
                provider.mark_as_read(message_id)
        except Exception as error:  # noqa: BLE001 - a lost receipt must never break anything else
            _logger.warning("Read receipt of %s not sent: %s", message_id, error)


def send_read_receipts_later(receipts, typing=False):
    """``send_read_receipts`` in a daemon thread (returns at once); the thread is returned."""
    thread = threading.Thread(
        target=send_read_receipts, args=(list(receipts), typing), name="cc-read-receipts", daemon=True
    )
    thread.start()
    return thread
