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
from collections import namedtuple
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager

from .providers import answer_from_wire, outbound_to_wire

SEND_FAILED = "failed"  # a sender process's answer when the send itself raised (a bug), with its text
CLOSE_TIMEOUT = 180  # seconds a sender process is given to finish what it has (a request and its retries take less)
START_TIMEOUT = 30  # seconds a sender process may take to start
PARK_SECONDS = 60  # seconds an idle sender process is kept for the next run (Odoo's next cron job), then ended
LATE_TOLERANCE = 0.02  # seconds a message may leave after its booked time; later, it is booked again
REBOOKINGS = 3  # times a late message is booked again; then it leaves at its time however late
LATE = "late"  # a sender's answer for a message it did not send: woken too late for its time
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
    reservation of the shared rate limit (``booking_rate``), spread evenly."""
    rate = rate if rate and rate > 0 else 1
    return [start + index / rate for index in range(count)]


def busiest_window(times, seconds=1.0):
    """The most of ``times`` (seconds, any order) within any window of ``seconds``: what a limit of
    so many messages a second counts, and what ``booking_rate`` keeps under it."""
    times, best, start = sorted(times), 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def booking_rate(rate):
    """Messages per second to book under a limit of ``rate`` per second. A message the limit
    paces leaves up to ``LATE_TOLERANCE`` after its booked time (``send_at``), so the messages
    leaving in any one second were booked within 1 + LATE_TOLERANCE seconds: booked that much
    wider apart, they are never more than ``rate``."""
    return max(1, int(rate or 1)) / (1 + LATE_TOLERANCE)


def booked(hand_overs):
    """(key, send, message, send time, book) of hand-overs (key, send, message, book), the times
    of each ``book`` (a reservation of a rate limit: ``book(count)`` -> times) reserved for all its
    messages at once. Booked as they are handed to the pipeline, not when they were claimed: the
    commit between must not count as lateness (``send_at``)."""
    groups = {}
    for key, send, message, book in hand_overs:
        groups.setdefault(book, []).append((key, send, message))
    for book, group in groups.items():
        for (key, send, message), at in zip(group, book(len(group)), strict=True):
            yield key, send, message, at, book


def send_at(send, message, at, tolerance=None):
    """``send(message)`` at monotonic time ``at`` (now when None). With a ``tolerance``, a message
    whose thread woke more than that after ``at`` (a busy host) is not sent but answered ``LATE``:
    sent then, it would share a second with the messages booked after it."""
    if at is not None:
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if tolerance is not None and time.monotonic() - at > tolerance:
            return LATE
    return send(message)


def send_in(send, message, delay, tolerance=None):
    """``send_at`` ``delay`` seconds from now (now when None), on this thread's clock."""
    return send_at(send, message, None if delay is None else time.monotonic() + delay, tolerance)


HandOver = namedtuple("HandOver", "key send message book rebooked")


class _InFlight:
    """What both pipelines share: the requests in flight (``HandOver`` by ticket), and a late
    message booked again and resubmitted, not answered to the caller."""

    def __init__(self, max_in_flight):
        self.max_in_flight = max(1, int(max_in_flight))
        self._handed = {}
        self.rebooked = 0  # messages booked again, woken too late for their time

    def __len__(self):
        return len(self._handed)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def free(self):
        return self.max_in_flight - len(self._handed)

    def submit(self, key, send, message, at=None, book=None):
        """Send ``message`` with ``send`` (the provider's ``_send_or_error``: returns a
        ``SendResult`` or a ``ProviderError``, never raises) at monotonic time ``at``, the answer
        recorded on ``key``. ``book(count)`` gives new times for late messages (a reservation of
        the rate limit, as ``at`` was); without it, a message leaves however late."""
        self._submit(HandOver(key, send, message, book, 0), at)

    def _submit(self, hand_over, at):
        raise NotImplementedError

    def flush(self):
        """Start what was submitted now, not at the next ``collect``."""

    def make_room(self, count):
        """The answers that came back, waiting for as many as leave room for ``count`` more
        requests (none when there is room already)."""
        wanted = count - self.free
        return self.collect(at_least=wanted) if wanted > 0 else self.collect(timeout=0)

    @staticmethod
    def _tolerance(hand_over, at):
        """How late past ``at`` the message may leave: ``LATE_TOLERANCE`` while the rate limit
        paces it (handed over more than that before its time: the configuration is booked ahead),
        it can be booked again and was not booked again REBOOKINGS times. A message handed over
        about its time leaves when it can: its configuration had room, and booking it again would
        only hold it back (on a loaded host, getting to a sender thread can take longer than
        LATE_TOLERANCE)."""
        paced = at is not None and at - time.monotonic() > LATE_TOLERANCE
        return LATE_TOLERANCE if paced and hand_over.book and hand_over.rebooked < REBOOKINGS else None

    def _settle(self, answered):
        """[(key, result)] of [(ticket, result)]; the late ones are booked again and resubmitted."""
        answers, late = [], {}
        for ticket, result in answered:
            hand_over = self._handed.pop(ticket)
            if result is LATE:
                late.setdefault(hand_over.book, []).append(hand_over)
            else:
                answers.append((hand_over.key, result))
        for book, hand_overs in late.items():
            self.rebooked += len(hand_overs)
            for hand_over, at in zip(hand_overs, book(len(hand_overs)), strict=True):
                self._submit(hand_over._replace(rebooked=hand_over.rebooked + 1), at)
        return answers

    def close(self):
        raise NotImplementedError

    def park(self):
        """Done with this pipeline for this run: what may be kept for the next is (``kept``)."""
        self.close()


class SendPipeline(_InFlight):
    """Up to ``max_in_flight`` provider requests at once, each made at its time (``submit``);
    ``collect`` returns the answers that came back, as (key, result). The threads never touch the
    database: recording is the caller's.
    """

    def __init__(self, max_in_flight):
        super().__init__(max_in_flight)
        self._pool = ThreadPoolExecutor(max_workers=self.max_in_flight, thread_name_prefix="cc-send")

    def _submit(self, hand_over, at):
        # A thread is free at once (never more in flight than threads). The wait is measured here,
        # on the caller's clock: under a test's frozen clock (freezegun gives threads the real one),
        # a thread would otherwise wait for ever.
        delay = None if at is None else at - time.monotonic()
        tolerance = self._tolerance(hand_over, at)
        self._handed[self._pool.submit(send_in, hand_over.send, hand_over.message, delay, tolerance)] = hand_over

    def collect(self, timeout=None, at_least=1):
        """The answers that came back: waits up to ``timeout`` seconds for ``at_least`` of them
        (fewer when fewer are in flight), then takes every one that is done."""
        if not self._handed:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        wanted = min(at_least, len(self._handed))
        done = {future for future in self._handed if future.done()}
        while len(done) < wanted:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            finished, _pending = wait(set(self._handed) - done, timeout=left, return_when=FIRST_COMPLETED)
            done |= finished
        return self._settle([(future, future.result()) for future in done])

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

    What is submitted is written to the process at the next ``flush`` or ``collect``, as one
    frame. Should the process die, ``collect`` raises ``SenderDied``: what was in flight stays
    claimed, in doubt, as after a crash of the dispatcher itself. ``prepare``: the names of the
    providers it will send through, whose first-use imports it makes before it is ready
    (``Provider.prepare``: Infobip's SDK takes about a second)."""

    def __init__(self, max_in_flight, prepare=()):
        super().__init__(max_in_flight)
        self.prepare = tuple(prepare)
        self._outgoing, self._tickets = [], 0
        self._answers = queue.Queue()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tools.send_worker", str(self.max_in_flight), *prepare],
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

    def _submit(self, hand_over, at):
        spec = getattr(getattr(hand_over.send, "__self__", None), "spec", None)
        if spec is None:
            raise TypeError("A sender process sends through a provider made by make_provider")
        self._tickets += 1
        self._handed[self._tickets] = hand_over
        # The booked time itself, not a delay: CLOCK_MONOTONIC is the host's, shared by both
        # processes, so the time the message waits in the pipe does not shift it (nor bunch it).
        message = outbound_to_wire(hand_over.message)
        self._outgoing.append((self._tickets, spec, message, at, self._tolerance(hand_over, at)))

    def collect(self, timeout=None, at_least=1):
        """As ``SendPipeline.collect``."""
        self.flush()
        if not self._handed:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        wanted, answers = min(at_least, len(self._handed)), []
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
        answers = self._settle([(ticket, self._answer(data)) for ticket, data in answers])
        self.flush()  # the late ones, booked again
        return answers

    @staticmethod
    def _answer(data):
        if data is None or data[0] == SEND_FAILED:
            raise SenderDied(data[1] if data else "The sender process ended with requests in flight")
        return LATE if data == LATE else answer_from_wire(data)

    def flush(self):
        """Write what was submitted to the process now (``collect`` does too)."""
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
            self.flush()
            self._process.stdin.close()
        except (SenderDied, OSError):
            pass
        try:
            self._process.wait(timeout=CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()  # what it still had stays in doubt, settled as after a crash
            self._process.wait()
        self._reader.join(timeout=5)

    @property
    def alive(self):
        return self._process.poll() is None

    def park(self):
        """Keep this process, idle, for the next run's ``sender_process`` with the same settings,
        and end it if none takes it within ``PARK_SECONDS`` (one kept per settings: a process kept
        before is ended). Ended at once while requests are in flight or once it died."""
        if self._handed or self._outgoing or not self.alive:
            self.close()
            return
        key = (self.max_in_flight, self.prepare)
        timer = threading.Timer(PARK_SECONDS, _end_parked, args=(key, self))
        timer.daemon = True
        with _parked_lock:
            previous = _parked.pop(key, None)
            _parked[key] = (self, timer)
        timer.start()
        if previous:
            previous[1].cancel()
            previous[0].close()


_parked = {}  # (max_in_flight, prepare) -> (idle ProcessSendPipeline, the timer that ends it)
_parked_lock = threading.Lock()


def _end_parked(key, pipeline):
    with _parked_lock:
        if _parked.get(key, (None,))[0] is pipeline:
            del _parked[key]
        else:
            return  # taken meanwhile
    pipeline.close()


def end_parked():
    """End the sender processes kept for a next run, now (the benchmark counts their CPU once
    they have ended)."""
    for key, (pipeline, timer) in list(_parked.items()):
        timer.cancel()
        _end_parked(key, pipeline)


def sender_process(max_in_flight, prepare=()):
    """A ``ProcessSendPipeline``: the one a run parked with these settings if it is still alive,
    else a new one. Odoo's cron gives a dispatch ten seconds a job: each job starting its own
    process would pay its imports again (Infobip's SDK: one to two seconds of a job's ten)."""
    key = (max(1, int(max_in_flight)), tuple(prepare))
    with _parked_lock:
        parked = _parked.pop(key, None)
    if parked:
        pipeline, timer = parked
        timer.cancel()
        if pipeline.alive:
            pipeline.rebooked = 0
            return pipeline
        pipeline.close()
    return ProcessSendPipeline(*key)


@contextmanager
def kept(pipeline):
    """``pipeline`` for one run: parked for the next (``park``) when the run ends as it should,
    closed when it raises (what was in flight is finished, and the process ends)."""
    try:
        yield pipeline
    except BaseException:
        pipeline.close()
        raise
    pipeline.park()
