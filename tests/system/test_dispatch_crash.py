"""A campaign whose dispatching process is killed (SIGKILL) in the middle, then started again:
every recipient gets the message at most once, and only those truly in flight at the kill (at most
the configured requests in flight, not a batch) are left unconfirmed, awaiting the provider's word."""

import json
import os
import signal
import subprocess
import sys
import time

import requests
from bench_dispatch import WORKER
from common import addons_path, create_database, drop_database, start_simulator

RECIPIENTS = 3000
MAX_IN_FLIGHT = 100  # contact_centre.max_in_flight, the default


def test_killed_dispatch_neither_loses_nor_doubles_messages():
    simulator, url = start_simulator(latency_ms=50)
    paths = addons_path()
    db = f"cc_crash_{os.getpid()}"
    try:
        create_database(db, paths)
        subprocess.run(
            [sys.executable, WORKER, db, paths, "setup", url, str(RECIPIENTS), "200"], check=True, capture_output=True
        )
        first = subprocess.Popen([sys.executable, WORKER, db, paths, "run"], stdout=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline and len(requests.get(f"{url}/_sim/messages", timeout=30).json()["messages"]) < 500:
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        received_at_kill = len(requests.get(f"{url}/_sim/messages", timeout=30).json()["messages"])
        assert 0 < received_at_kill < RECIPIENTS, "the kill must land in the middle of the campaign"

        second = subprocess.run([sys.executable, WORKER, db, paths, "run"], check=True, capture_output=True, text=True)
        result = json.loads(second.stdout.strip().splitlines()[-1])

        received = requests.get(f"{url}/_sim/messages", timeout=30).json()["messages"]
        per_recipient = {}
        for message in received:
            per_recipient[message["to"]] = per_recipient.get(message["to"], 0) + 1
        assert max(per_recipient.values()) == 1, "a recipient got the message twice"
        states = result["states"]
        assert set(states) <= {"sent", "unconfirmed"}, states
        assert 0 < states.get("unconfirmed", 0) <= MAX_IN_FLIGHT, (
            "the kill leaves in doubt what was in flight, and no more than the requests in flight"
        )
        # Nothing lost: every recipient either received it (sent) or awaits the provider's word.
        assert states.get("sent", 0) + states.get("unconfirmed", 0) == RECIPIENTS
        # Those sent by either run are exactly those the provider has; unconfirmed ones may or may not be there.
        assert states["sent"] <= len(per_recipient) <= states["sent"] + states["unconfirmed"]
    finally:
        simulator.terminate()
        drop_database(db)
