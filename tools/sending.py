"""Odoo-free parts of sending: the pipeline that keeps requests in flight, pacing and references.

A dispatcher (the campaign cron, the send queue) claims a few messages, commits the claim, hands
them to a ``SendPipeline`` and records each answer as it comes back, claiming more as requests
finish. So a process killed at any moment leaves in doubt only the requests truly in flight,
never a whole batch.
"""

import re
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

REFERENCE = re.compile(r"^cc-([0-9a-z]{1,16})-([0-9]{1,18})$")


def make_reference(namespace, record_id):
    """Our own reference of a message, sent with it and echoed by the provider in its callbacks
    (Meta ``biz_opaque_callback_data``, Twilio's status callback URL, Infobip ``messageId``,
    the custom gateway's ``{{client_ref}}``). ``namespace`` tells one database's messages from
    another's on a shared provider account (a staging copy of production, say)."""
    return f"cc-{namespace}-{record_id}"


def parse_reference(reference, namespace):
    """The record id in one of our references, or None when it is not ours (another namespace,
    another integration, garbage)."""
    match = REFERENCE.match(reference) if isinstance(reference, str) else None
    if not match or match.group(1) != namespace:
        return None
    return int(match.group(2))


def pace(start, count, rate):
    """Send times of ``count`` messages from ``start`` (seconds) at ``rate`` per second: a
    reservation of the shared rate limit, spread so that no second holds more than ``rate``."""
    rate = max(1, int(rate or 1))
    return [start + index / rate for index in range(count)]


def _send_after(send, message, delay):
    if delay > 0:
        time.sleep(delay)
    return send(message)


class SendPipeline:
    """Up to ``max_in_flight`` provider requests at once, each made no earlier than its time.

    ``submit`` a key (what the caller records the answer on), the provider's ``send`` callable
    (returns a ``SendResult`` or a ``ProviderError``, never raises: ``Provider._send_or_error``)
    and the message; ``collect`` returns the answers that came back, as (key, result). The
    threads never touch the database: recording is the caller's.
    """

    def __init__(self, max_in_flight):
        self.max_in_flight = max(1, int(max_in_flight))
        self._pool = ThreadPoolExecutor(max_workers=self.max_in_flight, thread_name_prefix="cc-send")
        self._keys = {}

    def __len__(self):
        return len(self._keys)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def free(self):
        return self.max_in_flight - len(self._keys)

    def submit(self, key, send, message, at=None):
        """Send ``message`` at monotonic time ``at`` (now when None). The wait is measured here,
        on the caller's clock: a thread has a free worker at once (never more in flight than
        workers), and a test's frozen clock in the caller cannot make a worker wait for ever."""
        delay = at - time.monotonic() if at is not None else 0
        self._keys[self._pool.submit(_send_after, send, message, delay)] = key

    def collect(self, timeout=None, at_least=1):
        """The answers that came back: waits up to ``timeout`` seconds for ``at_least`` of them
        (fewer when fewer are in flight), then takes every one that is done."""
        if not self._keys:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        wanted = min(at_least, len(self._keys))
        done = {future for future in self._keys if future.done()}
        while len(done) < wanted:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            finished, _pending = wait(set(self._keys) - done, timeout=left, return_when=FIRST_COMPLETED)
            done |= finished
        return [(self._keys.pop(future), future.result()) for future in done]

    def close(self):
        """Wait for what is in flight (its answers are lost to the caller) and stop the threads."""
        self._pool.shutdown(wait=True)
