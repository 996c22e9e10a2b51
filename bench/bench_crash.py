"""A campaign dispatched by Odoo run as in production (``--workers 2``, one cron worker), its whole
process group killed with SIGKILL at random moments and started again, while the simulator posts
each message's status callback (carrying our reference) to the webhooks.

    python bench/bench_crash.py [--recipients 20000] [--kills 4] [--latency-ms 50] [--seed N]

Prints, for each kill, the recipients left in doubt (handed over, no answer recorded: at most the
configured requests in flight), how long the dispatch took to resume after each restart, then the
duplicates (must be 0), the lost (0) and what is left for a person once the callbacks are in
(target 0; at most 1% of the campaign).
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402
from common import addons_path, create_database, drop_database, free_port, sql, start_simulator  # noqa: E402

from tools.simulator.control import configure, sent_messages  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "dispatch_worker.py")
MAX_IN_FLIGHT = 100  # contact_centre.max_in_flight, the default


def start_odoo(db, paths, port):
    """Odoo as production runs it, in its own process group (killed whole, as a host dies)."""
    process, _url = common.start_odoo(db, paths, port, "--workers", "2", "--max-cron-threads", "1", process_group=True)
    return process


def kill(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def received(url):
    return sent_messages(url, timeout=120)


def states(db):
    return dict(sql(db, "SELECT state, count(*) FROM contact_centre_campaign_recipient GROUP BY state"))


def wait_for_sends(url, more_than, timeout=120):
    """Seconds until the simulator has received more than ``more_than`` messages."""
    began = time.monotonic()
    while len(received(url)) <= more_than:
        if time.monotonic() - began > timeout:
            raise SystemExit(f"the dispatch did not resume within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - began


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=20000)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rate-limit", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    simulator, url = start_simulator(args.latency_ms)
    paths = addons_path()
    db = f"cc_bench_crash_{os.getpid()}"
    port = free_port()
    odoo = None
    try:
        print(
            f"{args.recipients} recipients, simulator latency {args.latency_ms:g} ms, rate limit {args.rate_limit}/s, "
            f"Odoo --workers 2 --max-cron-threads 1, {args.kills} SIGKILLs of the whole process group, "
            f"{os.cpu_count()} cores, seed {seed}",
            flush=True,
        )
        create_database(db, paths)
        subprocess.run(
            [sys.executable, WORKER, db, paths, "setup", url, str(args.recipients), str(args.rate_limit)],
            check=True,
            capture_output=True,
        )
        configure(
            url,
            callbacks=True,
            statuses=["delivered"],
            status_delay_ms=0,
            meta_webhook_url=f"http://127.0.0.1:{port}/contact_centre/webhook/whatsapp",
            meta_app_secret="secret",
        )
        in_doubt, resumed = [], []
        began = time.monotonic()
        odoo = start_odoo(db, paths, port)
        for index in range(args.kills):
            before = len(received(url))
            resumed.append(wait_for_sends(url, before))
            # Every other kill lands within a second of the restart's first send.
            time.sleep(rng.uniform(0.1, 0.9) if index % 2 else rng.uniform(1.0, 6.0))
            kill(odoo)
            counts = states(db)
            in_doubt.append(counts.get("sending", 0))
            print(
                f"kill {index + 1}: {len(received(url))} received by the provider, "
                f"{counts.get('sending', 0)} recipients in doubt (handed over, no answer recorded), "
                f"dispatch resumed {resumed[-1]:.1f} s after the restart",
                flush=True,
            )
            odoo = start_odoo(db, paths, port)
        before = len(received(url))
        resumed.append(wait_for_sends(url, before))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            counts = states(db)
            if not counts.get("pending") and not counts.get("sending"):
                break
            time.sleep(0.5)
        dispatched = time.monotonic() - began
        # The callbacks of the last messages, and of those in doubt, come in and are ingested.
        settled_at, last = time.monotonic(), None
        while time.monotonic() - settled_at < 15:
            pending_events = sql(db, "SELECT count(*) FROM contact_centre_webhook_event WHERE state = 'pending'")[0][0]
            counts = states(db)
            if (counts.get("unconfirmed", 0), pending_events) != last:
                last, settled_at = (counts.get("unconfirmed", 0), pending_events), time.monotonic()
            if not counts.get("unconfirmed") and not pending_events:
                break
            time.sleep(0.5)
        messages = received(url)
        per_number = Counter(message["to"] for message in messages)
        duplicates = sum(count - 1 for count in per_number.values() if count > 1)
        numbers = {f"+{to}" if not str(to).startswith("+") else str(to): count for to, count in per_number.items()}
        rows = sql(
            db,
            """SELECT r.state, c.whatsapp_number FROM contact_centre_campaign_recipient r
                 JOIN contact_centre_contact c ON c.id = r.contact_id""",
        )
        final = Counter(state for state, _number in rows)
        lost = sum(1 for state, number in rows if state == "sent" and number not in numbers) + sum(
            count for state, count in final.items() if state in ("pending", "sending")
        )
        left = final.get("unconfirmed", 0) + final.get("review", 0)
        print(
            f"dispatched in {dispatched:.0f} s; resumed after each restart in "
            + ", ".join(f"{seconds:.1f}" for seconds in resumed)
            + " s",
            flush=True,
        )
        print(f"in doubt right after each kill: {in_doubt} (at most {MAX_IN_FLIGHT} in flight per kill)")
        print(f"final recipient states: {dict(final)}")
        print(f"duplicates: {duplicates}   lost: {lost}   provider received: {len(messages)} of {args.recipients}")
        print(
            f"left for a person after the callbacks: {left} ({100.0 * left / args.recipients:.2f}% of the campaign; "
            "messages claimed but never sent, which no callback can settle)",
            flush=True,
        )
    finally:
        if odoo is not None and odoo.poll() is None:
            kill(odoo)
        simulator.terminate()
        drop_database(db)


if __name__ == "__main__":
    main()
