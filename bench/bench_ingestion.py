"""Ingestion of a burst of webhooks by the cron workers, with one and with two ingestion runs.

    python bench/bench_ingestion.py [--statuses 6000] [--inbound 3000] [--burst 1500] [--clients 16]
                                    [--cron-threads 2,1]

Creates a throwaway database with the addon, and for each number of cron threads starts Odoo
(``--workers 2 --max-cron-threads N``) and, with a pool of concurrent keep-alive clients, posts
signed Meta webhooks, one event per request (as Meta sends them):

1. ingestion alone: the requests are answered while ingestion is paused (both ingestion crons
   inactive), then ingestion resumes and the queue is drained: events/s from the wake-up to the
   last ``processed_date``, for status callbacks (to outbound messages of 500 customers, one each)
   and for inbound text messages (from 1,000 known customers);
2. a live burst: status callbacks and inbound messages interleaved, posted as fast as the server
   answers while the crons ingest on the same cores; for each event the delay from its answer to
   its request's ``processed_date`` (read from the database, to the microsecond): p50, p99, max.

With two cron threads, the ingestion cron wakes its helper under a backlog: two runs ingest in
parallel, on different customers. With one, the two crons take turns in the one cron worker.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import requests

sys.path.insert(0, os.path.dirname(__file__))
from common import (  # noqa: E402
    addons_path,
    create_database,
    drop_database,
    free_port,
    odoo_shell,
    rpc,
    sql,
    start_odoo,
)

SECRET = "bench-ingestion-secret"
WEBHOOK_PATH = "/contact_centre/webhook/whatsapp"
NUMBER_ID = "100000000000888"
CUSTOMERS = 500  # recipients of the outbound messages whose statuses come back
SENDERS = 1000  # customers writing in
CRONS = ("ir_cron_contact_centre_webhook_events", "ir_cron_contact_centre_webhook_events_helper")


def signed(payload):
    """The body and headers Meta sends: ``X-Hub-Signature-256``, HMAC-SHA256 of the raw body with
    the app secret (as ``tools/simulator/server.py`` ``meta_signature`` signs)."""
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}


def envelope(key, items, contacts=None):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1555", "phone_number_id": NUMBER_ID},
    }
    value[key] = items
    if contacts:
        value["contacts"] = contacts
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba", "changes": [{"field": "messages", "value": value}]}],
    }


def customer(index):
    return f"32471{index % CUSTOMERS:06d}"


def status_request(wamid, index):
    item = {"id": wamid, "status": "delivered", "timestamp": str(int(time.time())), "recipient_id": customer(index)}
    return signed(envelope("statuses", [item]))


def inbound_request(wamid, index):
    sender = f"32472{index % SENDERS:06d}"
    item = {
        "from": sender,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": f"hello {index}"},
    }
    return signed(envelope("messages", [item], contacts=[{"profile": {"name": "Bench"}, "wa_id": sender}]))


local = threading.local()


def post(url, body_headers):
    if not hasattr(local, "session"):
        local.session = requests.Session()
    body, headers = body_headers
    response = local.session.post(url + WEBHOOK_PATH, data=body, headers=headers, timeout=120)
    return response.status_code, time.time()


def post_all(url, requests_, clients):
    """Post every (wamid, body, headers); returns {wamid: the moment its answer came (epoch)}."""
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda r: post(url, r[1]), requests_))
    errors = sum(1 for code, _ in results if code != 200)
    if errors:
        print(f"  {errors} requests not answered 200", flush=True)
    return {wamid: answered for (wamid, _), (_code, answered) in zip(requests_, results, strict=True)}


def create_outbound_messages(db, paths, wamids):
    """Outbound WhatsApp messages, sent, to CUSTOMERS customers: stored as the superuser would, in
    ``odoo-bin shell`` (messages are made only by the product's own paths)."""
    odoo_shell(
        db,
        paths,
        f"""
config = env["contact.centre.whatsapp.config"].search([("phone_number_id", "=", "{NUMBER_ID}")])
Contact, Thread = env["contact.centre.contact"], env["contact.centre.thread"]
numbers = ["+" + "32471" + f"{{i:06d}}" for i in range({CUSTOMERS})]
known = {{c.whatsapp_number: c for c in Contact.search([("whatsapp_number", "in", numbers)])}}
missing = [n for n in numbers if n not in known]
for contact in Contact.create([{{"name": n, "whatsapp_number": n}} for n in missing]):
    known[contact.whatsapp_number] = contact
threads = {{n: Thread._get_or_create(known[n], "whatsapp") for n in numbers}}
# The customers who write in are known (as in a running contact centre): each round measures the same work.
senders = ["+" + "32472" + f"{{i:06d}}" for i in range({SENDERS})]
writing = set(Contact.search([("whatsapp_number", "in", senders)]).mapped("whatsapp_number"))
for contact in Contact.create([{{"name": n, "whatsapp_number": n}} for n in senders if n not in writing]):
    Thread._get_or_create(contact, "whatsapp")
wamids = {wamids!r}
env["contact.centre.message"].create([
    {{"contact_id": known[numbers[i % {CUSTOMERS}]].id, "thread_id": threads[numbers[i % {CUSTOMERS}]].id,
      "channel": "whatsapp", "direction": "outbound", "status": "sent", "provider": "meta",
      "external_message_id": wamid, "body_text": "x", "whatsapp_config_id": config.id}}
    for i, wamid in enumerate(wamids)
])
""",
    )


def utc_epoch(moment):
    return moment.replace(tzinfo=UTC).timestamp()


def wait_ingested(db, since_id, timeout=600):
    """Wait until no request stored after ``since_id`` is pending; (last processed_date as epoch,
    failed count)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        [(pending,)] = sql(
            db, "SELECT count(*) FROM contact_centre_webhook_event WHERE id > %s AND state = 'pending'", (since_id,)
        )
        if not pending:
            break
        time.sleep(0.1)
    [(last, failed, runs)] = sql(
        db,
        """SELECT max(processed_date), count(*) FILTER (WHERE state = 'failed'), count(DISTINCT processed_date)
             FROM contact_centre_webhook_event WHERE id > %s""",
        (since_id,),
    )
    return utc_epoch(last), failed, runs


def last_id(db):
    return sql(db, "SELECT COALESCE(max(id), 0) FROM contact_centre_webhook_event")[0][0]


def set_ingestion(url, db, cron_ids, active):
    for _attempt in range(200):
        try:
            rpc(url, db, "ir.cron", "write", cron_ids, {"active": active})
            break
        except RuntimeError:  # a run in progress holds the cron's row
            time.sleep(0.2)
    else:
        raise SystemExit("the ingestion crons kept running")
    if active:
        # The triggers left while it was paused were notified to no one: a fresh wake-up.
        rpc(
            url,
            db,
            "ir.cron.trigger",
            "unlink",
            rpc(url, db, "ir.cron.trigger", "search", [["cron_id", "in", cron_ids]]),
        )
        rpc(url, db, "contact.centre.webhook.event", "action_retry", [])


def drain(url, db, cron_ids, label, requests_, clients):
    """Requests answered with ingestion paused, then the queue drained: the ingestion rate alone."""
    set_ingestion(url, db, cron_ids, False)
    since = last_id(db)
    began = time.perf_counter()
    post_all(url, requests_, clients)
    answered = time.perf_counter() - began
    resumed = time.time()
    set_ingestion(url, db, cron_ids, True)
    last, failed, batches = wait_ingested(db, since)
    seconds = max(last - resumed, 1e-6)
    rate = len(requests_) / seconds
    print(
        f"  {label:28s} {len(requests_):6d} events: answered at {len(requests_) / answered:5.0f}/s, "
        f"then ingested at {rate:6.0f} events/s ({seconds:5.2f} s, {batches} batches, failed {failed})",
        flush=True,
    )
    return rate


def burst(db, url, statuses, inbound, clients):
    """Statuses and inbound messages interleaved, posted as fast as answered, ingestion running."""
    mixed = [item for pair in zip(statuses, inbound, strict=False) for item in pair]
    since = last_id(db)
    began = time.time()
    answered = post_all(url, mixed, clients)
    posted = time.time() - began
    last, failed, batches = wait_ingested(db, since)
    rows = sql(
        db,
        """SELECT events->0->>'provider_message_id', processed_date FROM contact_centre_webhook_event
            WHERE id > %s AND processed_date IS NOT NULL""",
        (since,),
    )
    processed = {wamid: utc_epoch(when) for wamid, when in rows}
    latencies = sorted(max(0.0, processed[w] - answered[w]) for w in answered if w in processed)

    def at(share):
        return latencies[min(len(latencies) - 1, int(len(latencies) * share))] * 1000

    print(
        f"  live burst: {len(mixed)} requests ({len(statuses)} statuses + {len(inbound)} inbound) answered at "
        f"{len(mixed) / posted:.0f}/s, all ingested {last - began:.2f} s after the first was posted "
        f"({len(mixed) / (last - began):.0f} events/s end to end, {batches} batches, failed {failed})",
        flush=True,
    )
    print(
        f"  webhook answered -> ingested: p50 {at(0.5):.0f} ms  p99 {at(0.99):.0f} ms  max {latencies[-1] * 1000:.0f} ms"
        f"  ({len(latencies)} of {len(mixed)} measured)",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statuses", type=int, default=6000)
    parser.add_argument("--inbound", type=int, default=3000)
    parser.add_argument("--burst", type=int, default=1500, help="status callbacks and inbound messages each")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--cron-threads", default="2,1")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    db = f"cc_bench_ingest_{uuid.uuid4().hex[:8]}"
    paths = addons_path()
    print(f"creating database {db}...", flush=True)
    create_database(db, paths)
    try:
        for round_, threads in enumerate(int(n) for n in args.cron_threads.split(",")):
            process, url = start_odoo(db, paths, free_port(), "--workers", "2", "--max-cron-threads", str(threads))
            try:
                if round_ == 0:
                    rpc(
                        url,
                        db,
                        "contact.centre.whatsapp.config",
                        "create",
                        {
                            "name": "Bench",
                            "account_id": "waba",
                            "phone_number_id": NUMBER_ID,
                            "access_token": "t",
                            "app_secret": SECRET,
                            "verify_token": "bench-verify",
                            "api_base_url": "http://127.0.0.1:9",
                        },
                    )
                cron_ids = [
                    row["res_id"]
                    for row in rpc(
                        url,
                        db,
                        "ir.model.data",
                        "search_read",
                        [["module", "=", "contact_centre"], ["name", "in", list(CRONS)]],
                        ["res_id"],
                    )
                ]
                tag = f"R{round_}"
                drained = [f"wamid.{tag}S{i}" for i in range(args.statuses)]
                live = [f"wamid.{tag}L{i}" for i in range(args.burst)]
                print(f"creating {len(drained) + len(live)} outbound messages to receive statuses for...", flush=True)
                create_outbound_messages(db, paths, drained + live)
                print(
                    f"Odoo --workers 2 --max-cron-threads {threads}, {args.clients} concurrent clients, "
                    f"one event per request, {os.cpu_count()} cores shared by clients, Odoo and PostgreSQL",
                    flush=True,
                )
                status_rate = drain(
                    url,
                    db,
                    cron_ids,
                    "status callbacks",
                    [(w, status_request(w, i)) for i, w in enumerate(drained)],
                    args.clients,
                )
                inbound_ids = [f"wamid.{tag}I{uuid.uuid4().hex}" for _ in range(args.inbound)]
                inbound_rate = drain(
                    url,
                    db,
                    cron_ids,
                    "inbound messages",
                    [(w, inbound_request(w, i)) for i, w in enumerate(inbound_ids)],
                    args.clients,
                )
                burst(
                    db,
                    url,
                    [(w, status_request(w, i)) for i, w in enumerate(live)],
                    [(w, inbound_request(w, i)) for i, w in enumerate(f"wamid.{tag}B{uuid.uuid4().hex}" for _ in live)],
                    args.clients,
                )
                print(
                    f"  => {threads} cron thread(s): statuses {status_rate:.0f} events/s (target 2,000), "
                    f"inbound {inbound_rate:.0f} events/s (target 500)  [{datetime.now(UTC):%Y-%m-%d}]",
                    flush=True,
                )
            finally:
                process.terminate()
                process.wait(30)
    finally:
        if not args.keep_db:
            drop_database(db)


if __name__ == "__main__":
    main()
