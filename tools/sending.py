"""Odoo-free parts of sending: the pipeline that keeps requests in flight, pacing and references.

A dispatcher (the campaign cron, the send queue) claims a few messages, commits the claim, hands
them to a ``SendPipeline`` and records each answer as it comes back, claiming more as requests
finish. So a process killed at any moment leaves in doubt only the requests truly in flight,
never a whole batch.
"""

import os
import pickle
import queue
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from .providers import answer_from_wire, outbound_to_wire

SEND_FAILED = "failed"  # a sender process's answer when the send itself raised (a bug), with its text
CLOSE_TIMEOUT = 180  # seconds a sender process is given to finish what it has (a request and its retries take less)
START_TIMEOUT = 30  # seconds a sender process may take to start
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


def send_after(send, message, delay):
    if delay > 0:
        time.sleep(delay)
    return send(message)


class _InFlight:
    """What both pipelines share: the requests in flight, keyed by what the caller records."""

    def __init__(self, max_in_flight):
        self.max_in_flight = max(1, int(max_in_flight))
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

    def close(self):
        raise NotImplementedError


class SendPipeline(_InFlight):
    """Up to ``max_in_flight`` provider requests at once, each made no earlier than its time.

    ``submit`` a key (what the caller records the answer on), the provider's ``send`` callable
    (returns a ``SendResult`` or a ``ProviderError``, never raises: ``Provider._send_or_error``)
    and the message; ``collect`` returns the answers that came back, as (key, result). The
    threads never touch the database: recording is the caller's.
    """

    def __init__(self, max_in_flight):
        super().__init__(max_in_flight)
        self._pool = ThreadPoolExecutor(max_workers=self.max_in_flight, thread_name_prefix="cc-send")

    def submit(self, key, send, message, at=None):
        """Send ``message`` at monotonic time ``at`` (now when None). The wait is measured here,
        on the caller's clock: a thread has a free worker at once (never more in flight than
        workers), and a test's frozen clock in the caller cannot make a worker wait for ever."""
        delay = at - time.monotonic() if at is not None else 0
        self._keys[self._pool.submit(send_after, send, message, delay)] = key

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


class SenderDied(RuntimeError):
    """The sender process ended with requests in flight: their answers are unknown."""


class ProcessSendPipeline(_InFlight):
    """A ``SendPipeline`` whose requests are made by a sender process (``tools/send_worker.py``),
    so that the dispatcher's own Python and the HTTP client run on two cores, not under one
    interpreter lock. Same interface; ``send`` must be the ``_send_or_error`` of a provider made
    by ``make_provider`` (the process builds its own client from the provider's ``spec``).

    What is submitted is written to the process at the next ``collect``, as one frame. Should the
    process die, ``collect`` raises ``SenderDied``: what was in flight stays claimed, in doubt, as
    after a crash of the dispatcher itself."""

    def __init__(self, max_in_flight):
        super().__init__(max_in_flight)
        self._outgoing, self._tickets = [], 0
        self._answers = queue.Queue()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tools.send_worker", str(self.max_in_flight)],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read_answers, daemon=True, name="cc-sender-answers")
        self._reader.start()
        self._wait_until_ready()

    def _wait_until_ready(self):
        """Wait for the process's first frame (empty: its imports are done). Messages are booked
        times of the shared rate limit: handed to a process still starting, they would leave late
        and together, more than the limit in one second."""
        try:
            first = self._answers.get(timeout=START_TIMEOUT)
        except queue.Empty:
            first = None
        if first != []:
            self._process.kill()
            self._process.wait()
            raise SenderDied("The sender process did not start")

    def submit(self, key, send, message, at=None):
        spec = getattr(getattr(send, "__self__", None), "spec", None)
        if spec is None:
            raise TypeError("A sender process sends through a provider made by make_provider")
        self._tickets += 1
        self._keys[self._tickets] = key
        # The booked time itself, not a delay: CLOCK_MONOTONIC is the host's, shared by both
        # processes, so the time the message waits in the pipe does not shift it (nor bunch it).
        self._outgoing.append((self._tickets, spec, outbound_to_wire(message), at))

    def collect(self, timeout=None, at_least=1):
        """As ``SendPipeline.collect``."""
        self._flush()
        if not self._keys:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        wanted, answers = min(at_least, len(self._keys)), []
        while True:
            try:
                answers += self._answers.get_nowait()
                continue
            except queue.Empty:
                pass
            left = None if deadline is None else deadline - time.monotonic()
            if len(answers) >= wanted or (left is not None and left <= 0):
                break
            try:
                answers += self._answers.get(timeout=left)
            except queue.Empty:
                break
        return [self._answer(ticket, data) for ticket, data in answers]

    def _answer(self, ticket, data):
        if data is None or data[0] == SEND_FAILED:
            raise SenderDied(data[1] if data else "The sender process ended with requests in flight")
        return self._keys.pop(ticket), answer_from_wire(data)

    def _flush(self):
        if self._outgoing:
            frame, self._outgoing = self._outgoing, []
            try:
                pickle.dump(frame, self._process.stdin)
                self._process.stdin.flush()
            except (BrokenPipeError, OSError) as error:
                raise SenderDied(f"The sender process is gone: {error}") from error

    def _read_answers(self):
        while True:
            try:
                frame = pickle.load(self._process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                self._answers.put([(None, None)])  # wakes a waiting collect, which raises
                return
            self._answers.put(frame)

    def close(self):
        """Let the process finish what it was given (its answers are lost to the caller) and end."""
        try:
            self._flush()
            self._process.stdin.close()
        except (SenderDied, OSError):
            pass
        try:
            self._process.wait(timeout=CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()  # what it still had stays in doubt, settled as after a crash
            self._process.wait()
        self._reader.join(timeout=5)
