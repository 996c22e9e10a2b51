"""Order of outbound message statuses: what a provider update may change.

Providers retry and reorder their callbacks: a late ``sent`` must not overwrite ``delivered``, and a
late callback must not revive a failed message. ``failed`` is terminal, with one exception: a
``delivered`` or ``read`` report after a failure proves the message did reach the person (Meta can
report a failure and then a read for the same wamid), so it lifts the failure.
"""

STATUSES = ("queued", "sent", "delivered", "read", "failed")
INBOUND_STATUS = "received"

_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}


def is_forward(current, new):
    """True when a message in ``current`` status should move to ``new``."""
    if new == current or new not in STATUSES or current not in (*STATUSES, None, False, ""):
        return False
    if not current:
        return True
    if current == "failed":
        return new in ("delivered", "read")
    if new == "failed":
        # A failure reported after delivery or reading is stale.
        return current in ("queued", "sent")
    return _RANK[new] > _RANK[current]


def next_status(current, new):
    """The status to keep after an update to ``new``."""
    return new if is_forward(current, new) else current
