"""Loaded at start-up by the processes ``bench_dispatch.py --processes`` runs (on ``PYTHONPATH``),
and active in the sender processes only (``python -m tools.send_worker``, started in the addon's
directory): each message's departure, the moment its thread calls the provider once the rate
limit's wait is over, is appended to a file in ``CC_BENCH_DEPARTURES`` ("late" for a message woken
too late for its time, booked again). The benchmark then counts
the busiest second as sent, beside the simulator's stamps of arrival (which also hold how late its
own threads, on the same two cores, read each request)."""

import os
import sys
import time

ADDON = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = os.environ.get("CC_BENCH_DEPARTURES")

if FOLDER and "tools.send_worker" in sys.orig_argv:
    sys.path.insert(0, ADDON)
    from tools import sending

    _log = open(os.path.join(FOLDER, f"{os.getpid()}.txt"), "a", buffering=1)  # noqa: SIM115 - for the process's life
    _send_at = sending.send_at

    def send_at(send, message, at, tolerance=None):
        def stamped(message):
            _log.write(f"{time.time():.6f}\n")
            return send(message)

        result = _send_at(stamped, message, at, tolerance)
        if result is sending.LATE:
            _log.write("late\n")
        return result

    sending.send_at = send_at
