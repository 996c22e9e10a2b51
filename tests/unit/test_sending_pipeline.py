"""The sending pipeline, pacing, and our reference coming back in every provider's status callback
(what settles a message whose send answer was lost in a crash)."""

import json
import os
import pickle
import random
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tools import sending
from tools.providers import (
    InfobipProvider,
    MetaCloudProvider,
    OutboundMessage,
    ProviderError,
    SendResult,
    StatusUpdate,
    TemplateMessage,
    TwilioProvider,
    WebhookRequest,
    make_provider,
    outbound_from_wire,
    outbound_to_wire,
)
from tools.providers.twilio import with_reference
from tools.sending import (
    LATE,
    LATE_TOLERANCE,
    REBOOKINGS,
    ProcessSendPipeline,
    SenderDied,
    SendPipeline,
    booked,
    booking_rate,
    busiest_window,
    end_parked,
    kept,
    make_reference,
    pace,
    parse_reference,
    send_at,
    sender_process,
)
from tools.simulator.control import configure, sent_messages

SID = "ACsim000000000000000000000000000000"


def meta(base_url, app_secret="secret"):
    return MetaCloudProvider("100000000000001", "token", app_secret=app_secret, waba_id="2001", base_url=base_url)


def twilio(base_url):
    return TwilioProvider(account_sid=SID, auth_token="auth-token", sender="+15005550006", base_url=base_url)


def infobip(base_url):
    return InfobipProvider(base_url=base_url, api_key="key", sender="ACME", webhook_token="t")


def test_reference_round_trip_and_foreign_references():
    reference = make_reference("3f2a9c1b", 4711)
    assert reference == "cc-3f2a9c1b-4711"
    assert parse_reference(reference, "3f2a9c1b") == 4711
    assert parse_reference(reference, "00000000") is None, "another database's message is not ours"
    for garbage in (None, "", "4711", "cc-3f2a9c1b-", "cc-3f2a9c1b-12x", "cc-3f2a9c1b-1;DROP", 4711, {"a": 1}):
        assert parse_reference(garbage, "3f2a9c1b") is None


def test_a_message_crosses_the_pipe_as_plain_data_and_comes_back_equal():
    """What a sender process is given: plain data (the two sides import the classes under two
    module names), the template too, nothing of the message lost or shared with the original."""
    template = TemplateMessage("promo", "en", [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}])
    messages = [
        OutboundMessage(to="+32470000001", template=template, client_ref="cc-db-1"),
        OutboundMessage(
            to="+32470000002", channel="sms", text="Hi", status_callback="https://x/cb", client_ref="cc-db-2"
        ),
        OutboundMessage(to="+32470000003", media_type="document", media_id="m-1", filename="a.pdf", reply_to="wamid.1"),
    ]
    for message in messages:
        wire = pickle.loads(pickle.dumps(outbound_to_wire(message)))
        assert all(type(value) in (str, int, bool, dict, list, type(None)) for value in wire.values())
        assert outbound_from_wire(wire) == message
    wire = outbound_to_wire(messages[0])
    wire["to"] = "+32470000009"
    assert messages[0].to == "+32470000001", "the wire data is a copy of the message's fields"


def test_pace_spreads_a_reservation_over_the_rate():
    assert pace(10.0, 4, 2) == [10.0, 10.5, 11.0, 11.5]
    assert pace(0.0, 2, 0) == [0.0, 1.0], "a rate of 0 is read as 1 per second, never a division by zero"


def test_messages_leaving_up_to_the_tolerance_late_never_exceed_the_rate_in_any_second():
    """Booked one after the other at ``booking_rate`` and each leaving anywhere between its time and
    LATE_TOLERANCE after it, no one-second window holds more than the limit; booked at the limit
    itself, lateness piles up over it."""
    rng = random.Random(7)
    for rate in (1, 10, 80, 500):
        booked = pace(0.0, rate * 20, booking_rate(rate))
        late = LATE_TOLERANCE * 0.999  # the bound is exact: at LATE_TOLERANCE, a rounding error tips it
        worst = [at + (late if index % 40 < 20 else 0) for index, at in enumerate(booked)]
        jittered = [at + rng.uniform(0, LATE_TOLERANCE) for at in booked]
        assert busiest_window(worst) <= rate and busiest_window(jittered) <= rate, rate
    at_the_limit = [
        at + (LATE_TOLERANCE if index % 1000 < 500 else 0) for index, at in enumerate(pace(0.0, 10000, 500))
    ]
    assert busiest_window(at_the_limit) > 500


class Rebooking:
    """A configuration's ``_reserve_send_times``: the times it gave, from ``start`` on (``ahead``
    of the moment it is asked when ``start`` is None)."""

    def __init__(self, start=None, gap=0.01, ahead=0.05):
        self.start, self.gap, self.ahead, self.calls = start, gap, ahead, []

    def __call__(self, count):
        self.calls.append(count)
        begin = time.monotonic() + self.ahead if self.start is None else self.start
        self.start = None if self.start is None else begin + count * self.gap
        return pace(begin, count, 1 / self.gap)


def oversleeping(monkeypatch, extra, below=None):
    """The threads of a busy host: a wait (shorter than ``below``, when given) lasts ``extra``
    seconds more than asked."""
    real_sleep = time.sleep

    def sleep(seconds):
        real_sleep(seconds + (extra if below is None or seconds < below else 0))

    monkeypatch.setattr(sending.time, "sleep", sleep)


def test_hand_overs_are_booked_once_per_reservation_as_they_are_handed_over():
    first, second, send = Rebooking(100.0), Rebooking(200.0), object()
    hand_overs = [(1, send, "a", first), (2, send, "b", second), (3, send, "c", first)]
    assert sorted(booked(hand_overs)) == [
        (1, send, "a", 100.0, first),
        (2, send, "b", 200.0, second),
        (3, send, "c", 100.01, first),
    ]
    assert (first.calls, second.calls) == ([2], [1])


def test_a_thread_woken_too_late_does_not_send():
    sent = []
    assert send_at(sent.append, "hi", time.monotonic() - 0.1, tolerance=0.02) == LATE and sent == []
    assert send_at(lambda m: SendResult(m), "hi", time.monotonic() - 0.1) == SendResult("hi"), "no tolerance"
    assert send_at(lambda m: SendResult(m), "hi", time.monotonic() + 0.01, tolerance=0.02) == SendResult("hi")


def test_a_message_woken_too_late_for_its_time_is_booked_again_not_sent_late(monkeypatch):
    oversleeping(monkeypatch, 0.1, below=0.1)  # the first wait, 50 ms, lasts 150
    sent_at, now = {}, time.monotonic()
    rebook = Rebooking(now + 0.5)

    def send(message):
        sent_at[message] = time.monotonic()
        return SendResult(message)

    with SendPipeline(4) as pipeline:
        pipeline.submit("late", send, "late", now + 0.05, rebook)
        pipeline.submit("on time", send, "on time", now + 0.3, rebook)
        answers = []
        while len(pipeline):
            answers += pipeline.collect(timeout=2)
    assert sorted(key for key, _answer in answers) == ["late", "on time"], "each answered once"
    assert rebook.calls == [1], "only the late one was booked again"
    assert sent_at["late"] >= now + 0.5, "it left at its new time, not 100 ms late"


def test_a_message_late_again_and_again_leaves_in_the_end(monkeypatch):
    """A host too busy to keep any time must not keep a message for ever: after REBOOKINGS new
    times, it leaves at its time however late."""
    oversleeping(monkeypatch, 0.05)
    sent, rebook = [], Rebooking()
    with SendPipeline(2) as pipeline:
        pipeline.submit(1, lambda m: sent.append(m) or SendResult("x"), 1, time.monotonic() + 0.05, rebook)
        answers = []
        while len(pipeline):
            answers += pipeline.collect(timeout=2)
    assert rebook.calls == [1] * REBOOKINGS and sent == [1] and answers == [(1, SendResult("x"))]


def test_a_message_handed_over_about_its_time_leaves_when_it_can(monkeypatch):
    """Its configuration had room (nothing booked ahead): booked again, it would only be held back,
    as it would without a way to book it again."""
    oversleeping(monkeypatch, 0.1)
    rebook = Rebooking()
    with SendPipeline(2) as pipeline:
        pipeline.submit(1, lambda m: SendResult("x"), 1, time.monotonic() - 10, rebook)
        pipeline.submit(2, lambda m: SendResult("y"), 2, time.monotonic() + LATE_TOLERANCE / 2, rebook)
        answers = []
        while len(pipeline):
            answers += pipeline.collect(timeout=2)
    assert sorted(answers) == [(1, SendResult("x")), (2, SendResult("y"))] and rebook.calls == []


def test_pipeline_keeps_at_most_max_in_flight_and_returns_every_answer():
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def send(message):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        return ProviderError("recipient", "no") if message % 7 == 0 else SendResult(f"id-{message}")

    answers = {}
    with SendPipeline(5) as pipeline:
        pending = list(range(40))
        while pending or len(pipeline):
            while pending and pipeline.free:
                message = pending.pop()
                pipeline.submit(message, send, message)
            answers.update(pipeline.collect(timeout=1))
    assert state["peak"] <= 5
    assert sorted(answers) == list(range(40))
    assert isinstance(answers[14], ProviderError) and answers[3] == SendResult("id-3")


def test_pipeline_sends_no_earlier_than_its_time():
    sent_at = []
    start = time.monotonic()
    with SendPipeline(10) as pipeline:
        for index, at in enumerate(pace(start + 0.1, 5, 50)):
            pipeline.submit(index, lambda m: sent_at.append(time.monotonic()) or SendResult(str(m)), index, at)
        answers = []
        while len(pipeline):
            answers += pipeline.collect(timeout=2)
    assert len(answers) == 5
    assert min(sent_at) >= start + 0.1
    assert max(sent_at) >= start + 0.18, "the fifth of a 50/s reservation leaves 80 ms after the first"


def test_collect_waits_for_at_least_some_answers_or_the_timeout():
    with SendPipeline(4) as pipeline:
        for index in range(4):
            pipeline.submit(index, lambda m: time.sleep(0.05 * m) or SendResult(str(m)), index)
        first = pipeline.collect(timeout=5, at_least=2)
        assert len(first) >= 2
        rest = []
        while len(pipeline):
            rest += pipeline.collect(timeout=5)
    assert sorted(key for key, _result in first + rest) == [0, 1, 2, 3]
    with SendPipeline(1) as pipeline:
        pipeline.submit("slow", lambda m: time.sleep(0.3) or SendResult("x"), None)
        began = time.monotonic()
        assert pipeline.collect(timeout=0.02) == []
        assert time.monotonic() - began < 0.2


def test_make_room_waits_for_the_answers_that_free_enough_places_and_no_more():
    """A claim made while requests are in flight is handed over once their answers made room for
    it: never more in flight than the pipeline holds, and no wait when there is room already."""
    release = threading.Event()
    with SendPipeline(4) as pipeline:
        for index in range(4):
            pipeline.submit(index, lambda m: (m >= 2 or release.wait(5)) and SendResult(str(m)), index)
        room = pipeline.make_room(2)  # 0 and 1 wait for the release: 2 and 3 make the room
        assert sorted(key for key, _result in room) == [2, 3] and pipeline.free == 2
        began = time.monotonic()
        assert pipeline.make_room(2) == [] and time.monotonic() - began < 0.1, "room already: no wait"
        threading.Timer(0.1, release.set).start()
        assert sorted(key for key, _result in pipeline.make_room(4)) == [0, 1]
        assert pipeline.free == 4


# The sender process: the same pipeline, its requests made by another process


def made_meta(base_url):
    settings = {"phone_number_id": "100000000000001", "access_token": "token", "app_secret": "s", "waba_id": "2001"}
    return make_provider("meta", {**settings, "base_url": base_url})


def test_sender_process_sends_each_message_once_and_answers_each(simulator):
    configure(simulator, fail_next=[131026])  # the first message the simulator receives is undeliverable
    send = made_meta(simulator)._send_or_error
    template = TemplateMessage("promo", "en", [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}])
    answers = {}
    with ProcessSendPipeline(4) as pipeline:
        pending = list(range(30))
        while pending or len(pipeline):
            while pending and pipeline.free:
                index = pending.pop(0)
                message = OutboundMessage(to=f"+3247010{index:04d}", template=template if index % 2 else None)
                message.text = None if index % 2 else f"hello {index}"
                message.client_ref = f"cc-abc-{index}"
                pipeline.submit(index, send, message)
            answers.update(pipeline.collect(timeout=5))
    assert sorted(answers) == list(range(30))
    failed = [index for index, answer in answers.items() if isinstance(answer, ProviderError)]
    assert len(failed) == 1 and answers[failed[0]].kind == "recipient" and answers[failed[0]].code == "131026"
    sent = sent_messages(simulator)  # what the simulator accepted
    assert len(sent) == 29 and len({m["to"] for m in sent}) == 29, "each message sent once"
    accepted = {answer.provider_message_id for answer in answers.values() if isinstance(answer, SendResult)}
    assert len(accepted) == 29
    templated = [m for m in sent if m["body"].get("type") == "template"]
    assert len(templated) == sum(1 for index in answers if index % 2 and index not in failed)
    assert templated[0]["body"]["template"]["name"] == "promo"


def test_a_parked_sender_process_serves_the_next_run_then_ends_unused(simulator, monkeypatch):
    """Odoo's cron gives a dispatch ten seconds a job: the next job takes the process the last one
    parked (its imports are not made again), and a process nobody takes ends after PARK_SECONDS."""
    monkeypatch.setattr(sending, "PARK_SECONDS", 0.5)
    send = made_meta(simulator)._send_or_error
    first = sender_process(4)
    first.park()
    for run in range(2):
        pipeline = sender_process(4)
        assert pipeline is first
        with kept(pipeline):
            pipeline.submit(run, send, OutboundMessage(to=f"+3247030{run:04d}", text="hi", client_ref=f"cc-pk-{run}"))
            assert [key for key, _result in pipeline.collect(timeout=5)] == [run]
        assert pipeline.alive  # parked
    other = sender_process(4, prepare=("meta",))  # other settings: another process
    assert other is not first
    other.close()
    deadline = time.monotonic() + 5
    while first.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not first.alive
    fresh = sender_process(4)
    assert fresh is not first and fresh.alive
    fresh.close()
    assert len(sent_messages(simulator)) == 2


def test_parked_sender_processes_end_when_told():
    """The benchmark reads a sender process's CPU once it has ended: ``end_parked`` ends the kept
    ones at once."""
    pipeline = sender_process(3)
    pipeline.park()
    assert pipeline.alive
    end_parked()
    assert not pipeline.alive
    fresh = sender_process(3)
    assert fresh is not pipeline
    fresh.close()


def test_a_sender_process_is_not_kept_after_a_failed_run_nor_taken_once_dead():
    failed = sender_process(2)
    with pytest.raises(RuntimeError), kept(failed):
        raise RuntimeError("the run failed")
    assert not failed.alive
    parked = sender_process(2)
    assert parked is not failed
    parked.park()
    parked._process.kill()
    parked._process.wait()
    fresh = sender_process(2)
    assert fresh is not parked and fresh.alive
    fresh.close()


def test_sender_process_starts_what_is_flushed_before_the_next_collect(simulator):
    """The dispatcher claims between a hand-over and its next ``collect``: what it handed over is
    written to the sender process by ``flush`` and leaves meanwhile."""
    send = made_meta(simulator)._send_or_error
    with ProcessSendPipeline(4) as pipeline:
        for index in range(3):
            message = OutboundMessage(to=f"+3247020{index:04d}", text=f"flushed {index}", client_ref=f"cc-fl-{index}")
            pipeline.submit(index, send, message)
        pipeline.flush()
        deadline = time.monotonic() + 5
        while len(sent_messages(simulator)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)  # no collect: only the flush can have started them
        assert len(sent_messages(simulator)) == 3
        answers = []
        while len(pipeline):
            answers += pipeline.collect(timeout=5)
    assert sorted(key for key, _result in answers) == [0, 1, 2]


def test_sender_process_makes_its_providers_first_use_imports_before_it_is_ready():
    """Infobip's SDK takes about a second to import: made on the first request, every thread of
    the process would wait for it, past the booked times of the first messages."""
    script = (
        "import io, sys; from tools.send_worker import serve; "
        "serve(io.BytesIO(), io.BytesIO(), 2, sys.argv[1:]); print('infobip_api_client' in sys.modules)"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for prepare, imported in (([], "False"), (["infobip"], "True"), (["meta", "twilio"], "False")):
        run = subprocess.run([sys.executable, "-c", script, *prepare], cwd=root, capture_output=True, text=True)
        assert run.stdout.strip() == imported, (prepare, run.stderr)


def test_sender_process_has_started_before_it_is_given_messages(simulator):
    """Messages carry booked times of the shared rate limit: the pipeline is returned once its
    process has started, so that the first messages leave at their times, not late and together
    (two dispatchers starting at once sent 550 messages in their first second against 500)."""
    send = made_meta(simulator)._send_or_error
    with ProcessSendPipeline(10) as pipeline:
        for index, at in enumerate(pace(time.monotonic() + 0.02, 8, 20)):  # 50 ms apart
            pipeline.submit(index, send, OutboundMessage(to=f"+3247020{index:04d}", text="hi"), at)
        answers = []
        while len(pipeline):
            answers += pipeline.collect(timeout=5)
    assert all(isinstance(answer, SendResult) for _key, answer in answers)
    received = sorted(m["at"] for m in sent_messages(simulator) if m["to"].startswith("3247020"))
    gaps = [later - earlier for earlier, later in zip(received, received[1:], strict=False)]
    assert len(received) == 8
    assert min(gaps) > 0.03, f"sent at their times, 50 ms apart: {gaps}"


def test_sender_process_books_a_late_message_again(simulator):
    """The first message, 50 ms ahead of its time when submitted, reaches the process 100 ms after
    it (written at the next collect): booked again, it leaves at its new time, 200 ms before the
    second one's."""
    send = made_meta(simulator)._send_or_error
    with ProcessSendPipeline(4) as pipeline:
        now = time.monotonic()
        rebook = Rebooking(now + 0.3)
        pipeline.submit("late", send, OutboundMessage(to="+32470300001", text="hi"), now + 0.05, rebook)
        pipeline.submit("on time", send, OutboundMessage(to="+32470300002", text="hi"), now + 0.5, rebook)
        time.sleep(0.15)
        answers = []
        while len(pipeline):
            answers += pipeline.collect(timeout=5)
    assert sorted(key for key, answer in answers if isinstance(answer, SendResult)) == ["late", "on time"]
    assert rebook.calls == [1]
    received = {m["to"]: m["at"] for m in sent_messages(simulator) if m["to"].startswith("3247030")}
    assert 0.1 < received["32470300002"] - received["32470300001"] < 0.35, "the late one left at its new time"


def test_sender_process_needs_a_provider_it_can_rebuild_and_reports_its_death(simulator):
    with ProcessSendPipeline(2) as pipeline:
        with pytest.raises(TypeError):
            pipeline.submit(1, lambda message: SendResult("x"), OutboundMessage(to="+32470100000", text="hi"))
        configure(simulator, latency_ms=2000)
        pipeline.submit(1, made_meta(simulator)._send_or_error, OutboundMessage(to="+32470100000", text="hi"))
        pipeline.collect(timeout=0)  # written to the process
        pipeline._process.kill()
        with pytest.raises(SenderDied):
            pipeline.collect(timeout=5)


# Our reference in each provider's callbacks (the simulator posts them as the real ones do)


def test_meta_status_callback_carries_biz_opaque_callback_data(simulator, receiver):
    configure(simulator, meta_webhook_url=f"{receiver.url}/meta", statuses=["sent"])
    meta(simulator).send(OutboundMessage(to="+32470123456", text="hi", client_ref="cc-abc-12"))
    [callback] = receiver.wait_for(1)
    status = json.loads(callback["body"])["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["biz_opaque_callback_data"] == "cc-abc-12"
    request = WebhookRequest.build("POST", "https://odoo.example/meta", callback["headers"], callback["body"])
    [event] = meta(simulator, app_secret="demo-app-secret").parse_webhook(request)
    assert isinstance(event, StatusUpdate) and event.client_ref == "cc-abc-12"


def test_twilio_status_callback_url_carries_the_reference_and_is_signed_with_it(simulator, receiver):
    configure(simulator, statuses=["delivered"], twilio_credentials={SID: "auth-token"})
    url = f"{receiver.url}/contact_centre/webhook/twilio/7?token=t"
    twilio(simulator).send(
        OutboundMessage(to="+32470123456", channel="sms", text="hi", status_callback=url, client_ref="cc-abc-12")
    )
    [callback] = receiver.wait_for(1)
    assert parse_qs(urlsplit(callback["path"]).query) == {"token": ["t"], "ref": ["cc-abc-12"]}
    form = {key: values[0] for key, values in parse_qs(callback["body"].decode()).items()}
    signed_url = f"{receiver.url}{callback['path']}"
    request = WebhookRequest.build(
        "POST", signed_url, callback["headers"], callback["body"], form=form, query={"token": "t", "ref": "cc-abc-12"}
    )
    provider = twilio(simulator)
    provider.verify_webhook(request)  # Twilio signed the URL with our reference in it
    [event] = provider.parse_webhook(request)
    assert (event.status, event.client_ref) == ("delivered", "cc-abc-12")


def test_with_reference_replaces_a_reference_already_there():
    assert with_reference("https://o.example/t?token=a", "cc-x-1") == "https://o.example/t?token=a&ref=cc-x-1"
    assert with_reference("https://o.example/t?ref=evil&token=a", "cc-x-2") == "https://o.example/t?token=a&ref=cc-x-2"
    assert with_reference("https://o.example/t", None) == "https://o.example/t"


def test_infobip_report_carries_our_message_id_and_logs_answer_by_it(simulator, receiver):
    configure(simulator, statuses=["delivered"], callback_loss=1.0)
    provider = infobip(simulator)
    sent = provider.send(
        OutboundMessage(
            to="+32470123456", channel="sms", text="hi", status_callback=f"{receiver.url}/ib", client_ref="cc-abc-7"
        )
    )
    assert sent.provider_message_id == "cc-abc-7"
    assert receiver.wait_for(1, timeout=0.5) == [], "callback_loss=1 loses every delivery report"
    updates = provider.lookup_statuses(["cc-abc-7", "cc-abc-8"])
    assert [(u.provider_message_id, u.status, u.client_ref) for u in updates] == [("cc-abc-7", "delivered", "cc-abc-7")]


def test_simulator_duplicates_callbacks_when_told(simulator, receiver):
    configure(simulator, meta_webhook_url=f"{receiver.url}/meta", statuses=["sent"], callback_duplicates=1.0)
    meta(simulator).send(OutboundMessage(to="+32470123456", text="hi", client_ref="cc-abc-13"))
    assert len(receiver.wait_for(2)) == 2


def test_meta_and_twilio_cannot_be_asked_by_reference(simulator):
    assert meta(simulator).lookup_statuses(["cc-abc-1"]) is None
    assert twilio(simulator).lookup_statuses(["cc-abc-1"]) is None
