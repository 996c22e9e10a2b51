"""Webhook ingestion against a running Odoo with 2 workers, side by side with /web/health.

    python bench/bench_webhooks.py [--requests 3000] [--clients 16] [--batch 10]

Creates a throwaway database with the addon, starts Odoo (--workers 2), and with a pool of
concurrent keep-alive clients posts signed Meta webhooks: single status callbacks, single inbound
messages and batches of status callbacks; prints requests/s, events/s and p50/p95 latency.
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

import requests

sys.path.insert(0, os.path.dirname(__file__))
from common import addons_path, create_database, drop_database, free_port, percentiles, rpc, start_odoo  # noqa: E402

SECRET = "bench-app-secret"
NUMBER_ID = "100000000000777"


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


def run(name, url, count, clients, make_request, events_per_request=1):
    def one(index):
        method, path, body, headers = make_request(index)
        began = time.perf_counter()
        response = session().request(method, url + path, data=body, headers=headers, timeout=60)
        elapsed = time.perf_counter() - began
        return response.status_code, elapsed

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(min(50, count))))  # warm-up
        began = time.perf_counter()
        results = list(pool.map(one, range(count)))
        total = time.perf_counter() - began
    errors = sum(1 for code, _ in results if code != 200)
    p50, p95 = percentiles([elapsed for _, elapsed in results])
    rate = count / total
    print(
        f"{name:34s} {rate:7.0f} req/s {rate * events_per_request:8.0f} events/s  p50 {p50:6.1f} ms  "
        f"p95 {p95:6.1f} ms  errors {errors}",
        flush=True,
    )
    return rate


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
    process, url = start_odoo(db, paths, port, "--workers", "2", "--max-cron-threads", "0")
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
        contact = rpc(url, db, "contact.centre.contact", "create", {"name": "Bench", "whatsapp_number": "+32470000000"})
        thread = rpc(url, db, "contact.centre.thread", "create", {"contact_id": contact, "channel": "whatsapp"})
        count = args.requests + args.requests * args.batch // args.batch + 200
        wamids = [f"wamid.BENCHOUT{i}" for i in range(count + args.requests * args.batch)]
        print(f"creating {len(wamids)} outbound messages to receive statuses for...", flush=True)
        for start in range(0, len(wamids), 5000):
            rpc(
                url,
                db,
                "contact.centre.message",
                "create",
                [
                    {
                        "contact_id": contact,
                        "thread_id": thread,
                        "channel": "whatsapp",
                        "direction": "outbound",
                        "status": "sent",
                        "provider": "meta",
                        "external_message_id": wamid,
                        "body_text": "x",
                    }
                    for wamid in wamids[start : start + 5000]
                ],
            )
        print(
            f"Odoo --workers 2, {args.clients} concurrent clients, {args.requests} requests per scenario, "
            f"{os.cpu_count()} cores (clients and Odoo share them)"
        )
        ceiling = run(
            "GET /web/health (ceiling)", url, args.requests, args.clients, lambda i: ("GET", "/web/health", None, None)
        )

        floor = run(
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

        def single_status(i):
            return (
                "POST",
                "/contact_centre/webhook/whatsapp",
                *signed(envelope("statuses", [status(wamids[i], "delivered")])),
            )

        def single_inbound(i):
            return ("POST", "/contact_centre/webhook/whatsapp", *signed(envelope("messages", [inbound(i)])))

        offset = args.requests + 100

        def batch_status(i):
            chunk = wamids[offset + i * args.batch : offset + (i + 1) * args.batch]
            return (
                "POST",
                "/contact_centre/webhook/whatsapp",
                *signed(envelope("statuses", [status(w, "read") for w in chunk])),
            )

        status_rate = run("single status callback", url, args.requests, args.clients, single_status)
        inbound_rate = run("single inbound message", url, args.requests, args.clients, single_inbound)
        run(
            f"batches of {args.batch} status callbacks",
            url,
            args.requests // args.batch * 2 // 2,
            args.clients,
            batch_status,
            events_per_request=args.batch,
        )
        print(
            f"single status callbacks at {status_rate / ceiling:.0%} of the /web/health ceiling "
            f"({status_rate / floor:.0%} of the one-query route), single inbound messages at "
            f"{inbound_rate / ceiling:.0%} ({inbound_rate / floor:.0%})"
        )
    finally:
        process.terminate()
        process.wait(30)
        if not args.keep_db:
            drop_database(db)


if __name__ == "__main__":
    main()
