"""A sender process: makes the provider requests of a ``ProcessSendPipeline`` (``tools/sending.py``).

    python -m tools.send_worker MAX_IN_FLIGHT [PROVIDER ...]     (run from the addon's directory)

Reads from stdin pickled frames, each a list of (ticket, provider spec, message, send time on the
host's monotonic clock, shared with the dispatcher, lateness tolerated): the provider client is
built from its spec (``make_provider``: name and settings) once, the message from its plain data
(``outbound_from_wire``); each is sent at its time by one of MAX_IN_FLIGHT threads, or answered
``LATE`` (``send_at``). Writes to stdout an empty frame once started (each PROVIDER named has
imported what it imports on first use: ``Provider.prepare``), then pickled frames of answers
[(ticket, answer)], as many as are ready at once. At the end of stdin (the dispatcher is done, or
died) it finishes what it has and exits: what it was given was claimed and committed before, so it
is sent, never dropped half-way.

Why a process: the dispatcher's Python (the ORM) and the HTTP client would otherwise share one
interpreter lock; here they run on two cores.
"""

import logging
import pickle
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from .providers import PROVIDERS, answer_to_wire, make_provider, outbound_from_wire
from .sending import LATE, SEND_FAILED, send_at


def serve(reader, writer, max_in_flight, prepare=()):
    for name in prepare:
        PROVIDERS[name].prepare()
    answers = queue.Queue()
    providers = {}
    pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="cc-send")
    _write_frame([], writer)  # ready: what it is given from now on leaves at its time
    answering = threading.Thread(target=_write_answers, args=(answers, writer), daemon=True)
    answering.start()

    def answered(ticket, future):
        try:
            result = future.result()
            answers.put((ticket, LATE if result is LATE else answer_to_wire(result)))
        except Exception as error:  # noqa: BLE001 - told to the dispatcher, which stops
            answers.put((ticket, (SEND_FAILED, repr(error))))

    while True:
        try:
            frame = pickle.load(reader)
        except EOFError:
            break
        for ticket, spec, data, at, tolerance in frame:
            key = pickle.dumps(spec)
            if key not in providers:
                providers[key] = make_provider(*spec)
            send = providers[key]._send_or_error
            future = pool.submit(send_at, send, outbound_from_wire(data), at, tolerance)
            future.add_done_callback(lambda future, ticket=ticket: answered(ticket, future))
    pool.shutdown(wait=True)
    answers.put(None)
    answering.join()


def _write_answers(answers, writer):
    """One frame per wake-up, with every answer ready by then."""
    done = False
    while not done:
        batch = [answers.get()]
        while not answers.empty():
            batch.append(answers.get_nowait())
        if batch[-1] is None:
            batch.pop()
            done = True
        if batch and not _write_frame(batch, writer):
            return  # the dispatcher is gone: nobody to tell


def _write_frame(frame, writer):
    try:
        pickle.dump(frame, writer)
        writer.flush()
    except (BrokenPipeError, OSError):
        return False
    return True


def main():
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s send_worker %(levelname)s %(name)s: %(message)s")
    serve(sys.stdin.buffer, sys.stdout.buffer, int(sys.argv[1]), sys.argv[2:])


if __name__ == "__main__":
    main()
