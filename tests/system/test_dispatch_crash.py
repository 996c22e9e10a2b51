"""A campaign whose dispatching process is killed (SIGKILL) in the middle, then finished by Odoo's
own server and cron while the provider's status callbacks come in:

- every recipient gets the message at most once;
- the kill leaves in doubt only what was in flight (at most the configured requests in flight,
  not a batch), and those become unconfirmed;
- the provider's callbacks (carrying our reference) settle those it had;
- what no callback can settle (claimed, never sent) is left to the configuration's policy after
  its wait: flagged for a person.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import requests
from bench_dispatch import WORKER
from common import addons_path, create_database, drop_database, free_port, odoo_shell, sql, start_odoo, start_simulator

from tools.simulator.control import configure

RECIPIENTS = 3000
MAX_IN_FLIGHT = 100  # contact_centre.max_in_flight, the default


def received(url):
    return requests.get(f"{url}/_sim/messages", timeout=30).json()["messages"]


def states(db):
    return dict(sql(db, "SELECT state, count(*) FROM contact_centre_campaign_recipient GROUP BY state"))


def wait_until(check, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout} s")


def test_killed_dispatch_is_settled_by_the_providers_callbacks_then_by_policy():
    simulator, url = start_simulator(latency_ms=50)
    paths = addons_path()
    db = f"cc_crash_{os.getpid()}"
    port = free_port()
    odoo = None
    try:
        create_database(db, paths)
        subprocess.run(
            [sys.executable, WORKER, db, paths, "setup", url, str(RECIPIENTS), "200"], check=True, capture_output=True
        )
        # Each message's delivery callback goes to Odoo's webhook; while no server listens there
        # (the killed worker has none), the simulator retries, as Meta does.
        configure(
            url,
            callbacks=True,
            statuses=["delivered"],
            status_delay_ms=0,
            meta_webhook_url=f"http://127.0.0.1:{port}/contact_centre/webhook/whatsapp",
            meta_app_secret="secret",
        )
        first = subprocess.Popen([sys.executable, WORKER, db, paths, "run"], stdout=subprocess.PIPE)
        wait_until(lambda: len(received(url)) >= 500, 120, "500 messages sent")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert 0 < len(received(url)) < RECIPIENTS, "the kill must land in the middle of the campaign"
        in_doubt = states(db).get("sending", 0)
        assert 0 < in_doubt <= MAX_IN_FLIGHT, f"{in_doubt} handed over and unanswered: at most what was in flight"

        # Odoo's server and cron finish the campaign and ingest the callbacks.
        odoo, _base = start_odoo(db, paths, port, "--max-cron-threads", "1")
        wait_until(
            lambda: not {"pending", "sending"} & set(states(db)) and len(received(url)) >= RECIPIENTS - in_doubt,
            240,
            "the campaign finished",
        )
        messages = received(url)
        per_number = Counter(message["to"] for message in messages)
        assert max(per_number.values()) == 1, "a recipient got the message twice"
        never_sent = RECIPIENTS - len(per_number)

        def delivered():
            return sql(
                db,
                """SELECT count(*) FROM contact_centre_message
                    WHERE campaign_id IS NOT NULL AND status = 'delivered' AND external_message_id IS NOT NULL""",
            )[0][0]

        wait_until(
            lambda: delivered() == len(per_number) and states(db).get("unconfirmed", 0) == never_sent,
            180,
            f"the callbacks settled every message the provider had ({never_sent} it never had)",
        )
        final = states(db)
        assert final == {"sent": len(per_number), **({"unconfirmed": never_sent} if never_sent else {})}, final

        # After the number's wait, what no callback settled is flagged for a person.
        odoo.kill()
        odoo.wait(30)
        odoo = None
        sql(db, "UPDATE contact_centre_message SET unconfirmed_since = unconfirmed_since - interval '1 hour'")
        odoo_shell(db, paths, "env['contact.centre.message']._settle_unconfirmed()")
        after = states(db)
        assert after.get("unconfirmed", 0) == 0 and after.get("review", 0) == never_sent, after
        print(json.dumps({"in_doubt_at_kill": in_doubt, "never_sent": never_sent, "states": after}))
    finally:
        if odoo is not None:
            odoo.kill()
            odoo.wait(30)
        simulator.terminate()
        drop_database(db)
