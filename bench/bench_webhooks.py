"""Webhook ingestion against a running Odoo with 2 workers, side by side with /web/health.

    python bench/bench_webhooks.py [--requests 3000] [--clients 16] [--batch 10]

Creates a throwaway database with the addon, starts Odoo (--workers 2), and with a pool of
concurrent keep-alive clients posts signed Meta webhooks: single status callbacks, single inbound
messages and batches of status callbacks; prints requests/s, events/s and p50/p95 latency.

Webhooks are answered once verified and queued; a cron worker ingests the queue. Each scenario is
measured twice apart (the requests with ingestion paused, then the ingestion of what they queued),
then together (steady state: the cron worker ingesting while the requests come, on the same cores).
"""

import argparse
import hashlib
import hmac
import json
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.dirname(__file__))
from common import (  # noqa: E402
    addons_path,
    create_database,
    drop_database,
    free_port,
    odoo_shell,
    percentiles,
    rpc,
    start_odoo,
)

SECRET = "bench-app-secret"
NUMBER_ID = "100000000000777"
ROUNDS = 5


def signed(payload):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}


def envelope(key, items):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1555", "phone_number_id": NUMBER_ID},
        key: items,
    }
    if key == "messages":
        value["contacts"] = [{"profile": {"name": "Bench"}, "wa_id": items[0]["from"]}]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba", "changes": [{"field": "messages", "value": value}]}],
    }


def status(wamid, name):
    return {"id": wamid, "status": name, "timestamp": str(int(time.time())), "recipient_id": "32470000000"}


def inbound(index):
    sender = f"32470{index % 1000:06d}"
    return {
        "from": sender,
        "id": f"wamid.BENCHIN{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": f"hello {index}"},
    }


local = threading.local()


def session():
    if not hasattr(local, "session"):
        local.session = requests.Session()
    return local.session


def run(name, url, count, clients, make_request, events_per_request=1, start=0, quiet=False):
    def one(index):
        method, path, body, headers = make_request(index)
        began = time.perf_counter()
        response = session().request(method, url + path, data=body, headers=headers, timeout=60)
        elapsed = time.perf_counter() - began
        return response.status_code, elapsed

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(start, start + min(50, count))))  # warm-up
        began = time.perf_counter()
        results = list(pool.map(one, range(start, start + count)))
        total = time.perf_counter() - began
    errors = sum(1 for code, _ in results if code != 200)
    p50, p95 = percentiles([elapsed for _, elapsed in results])
    rate = count / total
    if quiet:
        return rate, began
    print(
        f"{name:34s} {rate:7.0f} req/s {rate * events_per_request:8.0f} events/s  p50 {p50:6.1f} ms  "
        f"p95 {p95:6.1f} ms  errors {errors}",
        flush=True,
    )
    return rate, began


def wait_ingested(url, db, began, events, label):
    """Wait until the processor has ingested every queued request; print the rate from ``began``."""
    while rpc(url, db, "contact.centre.webhook.event", "search_count", [["state", "=", "pending"]]):
        time.sleep(0.05)
    total = time.perf_counter() - began
    failed = rpc(url, db, "contact.centre.webhook.event", "search_count", [["state", "=", "failed"]])
    print(f"{label:34s} {events / total:26.0f} events/s  in {total:5.1f} s  failed {failed}", flush=True)


def oversized_body_refusal(url, megabytes=5, tries=20):
    """An unsigned body of ``megabytes`` naming a different number in each entry (what held a
    worker for 19 s when every id cost a query) must be refused at once: time to the answer."""
    entries = [{"id": "w", "changes": [{"value": {"metadata": {"phone_number_id": str(i)}}}]} for i in range(10**6)]
    body = json.dumps({"entry": entries}).encode()[: megabytes << 20]
    timings, codes = [], set()
    for _ in range(tries):
        began = time.perf_counter()
        try:
            codes.add(requests.post(f"{url}/contact_centre/webhook/whatsapp", data=body, timeout=60).status_code)
        except requests.ConnectionError:
            codes.add("connection closed by the server")
        timings.append(time.perf_counter() - began)
    timings.sort()
    print(
        f"unsigned {megabytes} MB body refused ({', '.join(map(str, sorted(codes, key=str)))}): "
        f"median {1000 * timings[len(timings) // 2]:.1f} ms, max {1000 * timings[-1]:.1f} ms (target < 100 ms)"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    db, paths, port = f"cc_bench_webhooks_{os.getpid()}", addons_path(), free_port()
    print("creating the database...", flush=True)
    create_database(db, paths)
    # Two HTTP workers, and one cron worker that ingests the queued webhook events meanwhile.
    process, url = start_odoo(db, paths, port, "--workers", "2", "--max-cron-threads", "1")
    try:
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
        # Single statuses: 2 x requests (rounds, then timed alone), then a batch region.
        offset = 2 * args.requests + 100
        wamids = [f"wamid.BENCHOUT{i}" for i in range(offset + 2 * args.requests * args.batch // args.batch + 100)]
        print(f"creating {len(wamids)} outbound messages to receive statuses for...", flush=True)
        # Messages are made only by the product's own paths: stored here as the superuser would.
        odoo_shell(
            db,
            paths,
            f"""
config = env["contact.centre.whatsapp.config"].search([("phone_number_id", "=", "{NUMBER_ID}")])
contact = env["contact.centre.contact"].create({{"name": "Bench", "whatsapp_number": "+32470000000"}})
thread = env["contact.centre.thread"]._get_or_create(contact, "whatsapp")
env["contact.centre.message"].create([
    {{"contact_id": contact.id, "thread_id": thread.id, "channel": "whatsapp", "direction": "outbound",
      "status": "sent", "provider": "meta", "external_message_id": wamid, "body_text": "x",
      "whatsapp_config_id": config.id}}
    for wamid in {wamids!r}
])
""",
        )
        print(
            f"Odoo --workers 2, {args.clients} concurrent clients, {args.requests} requests per scenario, "
            f"{os.cpu_count()} cores (clients and Odoo share them)"
        )
        ceiling, _ = run(
            "GET /web/health (ceiling)", url, args.requests, args.clients, lambda i: ("GET", "/web/health", None, None)
        )

        floor, _ = run(
            "GET verification (one DB query)",
            url,
            args.requests,
            args.clients,
            lambda i: (
                "GET",
                "/contact_centre/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=bench-verify&hub.challenge=1",
                None,
                None,
            ),
        )

        oversized_body_refusal(url)

        def single_status(i):
            return (
                "POST",
                "/contact_centre/webhook/whatsapp",
                *signed(envelope("statuses", [status(wamids[i], "delivered")])),
            )

        def single_inbound(i):
            return ("POST", "/contact_centre/webhook/whatsapp", *signed(envelope("messages", [inbound(i)])))

        def batch_status(i):
            chunk = wamids[offset + i * args.batch : offset + (i + 1) * args.batch]
            return (
                "POST",
                "/contact_centre/webhook/whatsapp",
                *signed(envelope("statuses", [status(w, "read") for w in chunk])),
            )

        cron_id = rpc(
            url,
            db,
            "ir.model.data",
            "search_read",
            [["module", "=", "contact_centre"], ["name", "=", "ir_cron_contact_centre_webhook_events"]],
            ["res_id"],
        )[0]["res_id"]

        def pause_ingestion():
            """Deactivate the processing cron once its current run (a follow-up one) has finished."""
            for _attempt in range(100):
                try:
                    return rpc(url, db, "ir.cron", "write", [cron_id], {"active": False})
                except RuntimeError:
                    time.sleep(0.2)
            raise SystemExit("the processing cron kept running")

        def health(i):
            return ("GET", "/web/health", None, None)

        def against_ceiling(make_request, count):
            """Ratio to /web/health measured in alternating rounds, so that the drift of a shared
            machine's speed over the run falls on both sides (median of the rounds)."""
            ratios, size = [], count // ROUNDS
            for index in range(ROUNDS):
                ceiling_rate, _ = run("", url, size, args.clients, health, quiet=True)
                rate, _ = run("", url, size, args.clients, make_request, start=index * size, quiet=True)
                ratios.append(rate / ceiling_rate)
            return statistics.median(ratios)

        def accept_then_ingest(name, make_request, count, events_per_request=1):
            """Requests answered while ingestion is paused (the HTTP path alone, first against the
            ceiling in alternating rounds, then timed alone), then the queue they left ingested by
            the cron worker (the processing path alone)."""
            pause_ingestion()
            ratio = against_ceiling(make_request, count)
            _rate, _began = run(name, url, count, args.clients, make_request, events_per_request, start=count)
            print(f"{'  ...vs /web/health in rounds':34s} {ratio:26.0%} (median of {ROUNDS} alternating rounds)")
            pending = sum(
                row["event_count"]
                for row in rpc(
                    url, db, "contact.centre.webhook.event", "search_read", [["state", "=", "pending"]], ["event_count"]
                )
            )
            rpc(url, db, "ir.cron", "write", [cron_id], {"active": True})
            # The triggers left while it was paused were notified to no one: replace them by a fresh one.
            triggers = rpc(url, db, "ir.cron.trigger", "search", [["cron_id", "=", cron_id]])
            rpc(url, db, "ir.cron.trigger", "unlink", triggers)
            began = time.perf_counter()
            rpc(url, db, "contact.centre.webhook.event", "action_retry", [])  # wakes the processor
            wait_ingested(url, db, began, pending, label="  ...then ingested")
            return ratio

        status_ratio = accept_then_ingest("single status callback", single_status, args.requests)
        inbound_ratio = accept_then_ingest("single inbound message", single_inbound, args.requests)
        batches = args.requests // args.batch
        accept_then_ingest(f"batches of {args.batch} status callbacks", batch_status, batches, args.batch)

        print("steady state, ingestion running on the same two cores:")

        def read_status(i):
            return (
                "POST",
                "/contact_centre/webhook/whatsapp",
                *signed(envelope("statuses", [status(wamids[i], "read")])),
            )

        _rate, began = run("single status callback", url, args.requests, args.clients, read_status)
        wait_ingested(url, db, began, args.requests, label="  ...ingested end to end")
        _rate, began = run("single inbound message", url, args.requests, args.clients, single_inbound)
        wait_ingested(url, db, began, args.requests, label="  ...ingested end to end")
        print(
            f"single status callbacks answered at {status_ratio:.0%} of the /web/health ceiling, "
            f"single inbound messages at {inbound_ratio:.0%} (target 80%)"
        )
    finally:
        process.terminate()
        process.wait(30)
        if not args.keep_db:
            drop_database(db)


if __name__ == "__main__":
    main()
