"""Webhook ingestion against a running Odoo with 2 workers, side by side with /web/health.

    python bench/bench_webhooks.py [--requests 3000] [--clients 16] [--batch 10] [--latency]
    python bench/bench_webhooks.py --latency-only [--latency-events 10000] [--latency-pace 20]
    python bench/bench_webhooks.py --through-nginx [...]   # the same through nginx, as deployed

With --through-nginx, Odoo runs as production runs it (deploy/stack.py: --workers 2
--max-cron-threads 1 --proxy-mode, behind nginx ending TLS) and every measured request goes
through nginx over HTTPS (keep-alive, as providers connect); the set-up and control calls go
straight to Odoo.

Creates a throwaway database with the addon, starts Odoo (--workers 2), and with a pool of
concurrent keep-alive clients posts signed Meta webhooks: single status callbacks, single inbound
messages and batches of status callbacks; prints requests/s, events/s and p50/p95 latency.

Webhooks are answered once verified and queued; a cron worker ingests the queue. Each scenario is
measured twice apart (the requests with ingestion paused, then the ingestion of what they queued),
then together (steady state: the cron worker ingesting while the requests come, on the same cores).

Last with --latency (about 9 minutes more), or alone with --latency-only: the delay from webhook
to ingested, event by event. Single status callbacks are posted at a fixed pace, well below what
the server sustains; for each, the moment its answer came back is recorded, and compared with its
request's ``processed_date`` (stamped to the microsecond just before the processor commits the
batch, read from the database since RPC drops the microseconds): p50, p99 and max (target: max
under 5 s). A lost wake-up shows as an event that waits for the cron's next regular tick, up to a
minute or more, with no processing run going on meanwhile.
"""

import argparse
import bisect
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
from datetime import UTC

import requests

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import (  # noqa: E402
    addons_path,
    create_database,
    drop_database,
    free_port,
    odoo_shell,
    percentiles,
    rpc,
    sql,
    start_odoo,
)

from deploy.stack import ODOO_OPTIONS, Stack  # noqa: E402

SECRET = "bench-app-secret"
JSON = {"Content-Type": "application/json"}
WEBHOOK_PATH = "/contact_centre/webhook/whatsapp"
NUMBER_ID = "100000000000777"
ROUNDS = 5
# How the clients check the server's certificate: the stack's own with --through-nginx.
VERIFY = True


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
        if VERIFY is not True:
            local.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
            local.session.verify = VERIFY
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


def create_outbound_messages(db, paths, wamids):
    """Outbound WhatsApp messages to receive statuses for. Messages are made only by the product's
    own paths: stored here as the superuser would, in ``odoo-bin shell``."""
    print(f"creating {len(wamids)} outbound messages to receive statuses for...", flush=True)
    odoo_shell(
        db,
        paths,
        f"""
config = env["contact.centre.whatsapp.config"].search([("phone_number_id", "=", "{NUMBER_ID}")])
contact = env["contact.centre.contact"].search([("whatsapp_number", "=", "+32470000000")], limit=1) or env[
    "contact.centre.contact"].create({{"name": "Bench", "whatsapp_number": "+32470000000"}})
thread = env["contact.centre.thread"]._get_or_create(contact, "whatsapp")
env["contact.centre.message"].create([
    {{"contact_id": contact.id, "thread_id": thread.id, "channel": "whatsapp", "direction": "outbound",
      "status": "sent", "provider": "meta", "external_message_id": wamid, "body_text": "x",
      "whatsapp_config_id": config.id}}
    for wamid in {wamids!r}
])
""",
    )


def idle_while_pending(runs, waits):
    """For each (answered, ingested) span in ``waits``, how long of it no run of ``runs`` (sorted
    (start, end) spans) was going on."""
    starts = [start for start, _end in runs]
    idle = []
    for begin, end in waits:
        covered, cursor = 0.0, begin
        for start, stop in runs[max(0, bisect.bisect_right(starts, begin) - 1) :]:
            if start >= end:
                break
            if stop > cursor:
                covered += min(stop, end) - max(start, cursor)
                cursor = min(stop, end)
        idle.append(max(0.0, end - begin - covered))
    return idle


def latency_section(url, db, events, pace, clients):
    """Post ``events`` single status callbacks, one every 1/``pace`` s, and report the delay from
    each answer to the ingestion of its event (``processed_date``, to the microsecond)."""
    wamids = [f"wamid.BENCHLAT{i}" for i in range(events)]
    [(first_id,)] = sql(db, "SELECT COALESCE(MAX(id), 0) FROM contact_centre_webhook_event")
    [(first_trigger,)] = sql(db, "SELECT last_value FROM ir_cron_trigger_id_seq")
    [(first_run,)] = sql(
        db,
        "SELECT COALESCE(MAX(p.id), 0) FROM ir_cron_progress p JOIN ir_model_data d ON d.res_id = p.cron_id"
        " AND d.model = 'ir.cron' AND d.module = 'contact_centre' AND d.name = 'ir_cron_contact_centre_webhook_events'",
    )
    answered, sent, codes = [None] * events, [None] * events, [None] * events

    def one(index):
        body, headers = signed(envelope("statuses", [status(wamids[index], "delivered")]))
        sent[index] = time.time()
        try:
            response = session().post(url + WEBHOOK_PATH, data=body, headers=headers, timeout=60)
            codes[index] = response.status_code
        except requests.RequestException as error:
            codes[index] = type(error).__name__
        answered[index] = time.time()

    print(
        f"latency: {events} single status callbacks at {pace:g}/s ({events / pace:.0f} s), {clients} clients",
        flush=True,
    )
    behind = 0.0
    with ThreadPoolExecutor(clients) as pool:
        began = time.perf_counter()
        for index in range(events):
            delay = began + index / pace - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                behind = max(behind, -delay)
            pool.submit(one, index)
    posting = time.perf_counter() - began
    errors = sum(1 for code in codes if code != 200)

    # Wait for the queue to drain (a lost wake-up waits for the cron's regular tick: up to ~2 min).
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        [(pending,)] = sql(
            db, "SELECT count(*) FROM contact_centre_webhook_event WHERE id > %s AND state = 'pending'", (first_id,)
        )
        if not pending:
            break
        time.sleep(0.2)
    rows = sql(
        db,
        "SELECT events->0->>'provider_message_id', processed_date, state FROM contact_centre_webhook_event"
        " WHERE id > %s",
        (first_id,),
    )
    ingested = {wamid: (processed, state) for wamid, processed, state in rows}
    latencies, from_sent, waits, missing, failed = [], [], [], 0, 0
    for index, wamid in enumerate(wamids):
        processed, state = ingested.get(wamid, (None, None))
        if codes[index] != 200:
            continue
        if state == "failed":
            failed += 1
        if processed is None:
            missing += 1
            continue
        done_at = processed.replace(tzinfo=UTC).timestamp()
        # Ingested before the client had read its answer (the commit precedes it): no delay.
        latencies.append(max(0.0, done_at - answered[index]))
        from_sent.append(done_at - sent[index])
        waits.append((answered[index], done_at))
    [(last_trigger,)] = sql(db, "SELECT last_value FROM ir_cron_trigger_id_seq")
    # The processor's runs (start, end), to tell a lost wake-up (an event pending while no run goes
    # on, until the cron's regular tick) from a processor that is just behind (runs back to back).
    runs = [
        (start.replace(tzinfo=UTC).timestamp(), end.replace(tzinfo=UTC).timestamp())
        for start, end in sql(
            db,
            "SELECT p.create_date, p.write_date FROM ir_cron_progress p JOIN ir_model_data d ON d.res_id = p.cron_id"
            " AND d.model = 'ir.cron' AND d.module = 'contact_centre'"
            " AND d.name = 'ir_cron_contact_centre_webhook_events' WHERE p.id > %s ORDER BY p.id",
            (first_run,),
        )
    ]
    idle = sorted(idle_while_pending(runs, waits))
    latencies.sort()
    from_sent.sort()

    def at(ordered, share):
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")

    print(
        f"  posted in {posting:.1f} s ({events / posting:.0f}/s, at worst {1000 * behind:.0f} ms behind the pace), "
        f"errors {errors}; {len(latencies)} ingested, {missing} not within 3 min of the end, {failed} failed",
        flush=True,
    )
    print(
        f"  answered -> ingested: p50 {1000 * at(latencies, 0.5):.0f} ms  p99 {1000 * at(latencies, 0.99):.0f} ms  "
        f"max {1000 * (latencies[-1] if latencies else float('nan')):.0f} ms  (target max < 5000 ms); "
        f"over 5 s: {sum(1 for latency in latencies if latency > 5)}",
        flush=True,
    )
    print(
        f"  sent -> ingested:     p50 {1000 * at(from_sent, 0.5):.0f} ms  p99 {1000 * at(from_sent, 0.99):.0f} ms  "
        f"max {1000 * (from_sent[-1] if from_sent else float('nan')):.0f} ms",
        flush=True,
    )
    print(
        f"  processing runs {len(runs)}, wake-ups (cron triggers) made {last_trigger - first_trigger}; "
        f"longest an event waited with no run going on: {1000 * (idle[-1] if idle else 0):.0f} ms "
        f"(p99 {1000 * at(idle, 0.99):.0f} ms; a lost wake-up waits for the regular tick, up to a minute)",
        flush=True,
    )
    print(f"  load average during the run: {os.getloadavg()[1]:.1f} ({os.cpu_count()} cores)", flush=True)


def oversized_body_refusal(url, megabytes=5, tries=20):
    """An unsigned body of ``megabytes`` naming a different number in each entry (what held a
    worker for 19 s when every id cost a query) must be refused at once: time to the answer."""
    entries = [{"id": "w", "changes": [{"value": {"metadata": {"phone_number_id": str(i)}}}]} for i in range(10**6)]
    body = json.dumps({"entry": entries}).encode()[: megabytes << 20]
    timings, codes = [], set()
    for _ in range(tries):
        began = time.perf_counter()
        try:
            answer = requests.post(
                f"{url}/contact_centre/webhook/whatsapp", data=body, headers=JSON, timeout=60, verify=VERIFY
            )
            codes.add(answer.status_code)
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
    parser.add_argument("--latency", action="store_true", help="then the webhook -> ingested delay")
    parser.add_argument("--latency-only", action="store_true", help="only the webhook -> ingested delay")
    parser.add_argument("--latency-events", type=int, default=10000)
    parser.add_argument("--latency-pace", type=float, default=20, help="requests per second")
    parser.add_argument("--latency-clients", type=int, default=16)
    parser.add_argument("--oversized-only", action="store_true", help="only the refusal of a 5 MB unsigned body")
    parser.add_argument(
        "--through-nginx", action="store_true", help="through nginx (TLS) in front of Odoo run as in production"
    )
    args = parser.parse_args()
    db, paths, port = f"cc_bench_webhooks_{os.getpid()}", addons_path(), free_port()
    print("creating the database...", flush=True)
    create_database(db, paths)
    # Two HTTP workers, and one cron worker that ingests the queued webhook events meanwhile.
    global VERIFY
    if args.through_nginx:
        stack = Stack(db, paths, hosts=1).start()
        VERIFY, url, control, stop = stack.ca, stack.url, stack.hosts[0].url, stack.stop
        mode = f"through nginx (HTTPS) to Odoo {' '.join(ODOO_OPTIONS)}"
    else:
        process, url = start_odoo(db, paths, port, "--workers", "2", "--max-cron-threads", "1")
        control, mode = url, "Odoo --workers 2 --max-cron-threads 1, direct"

        def stop():
            process.terminate()
            process.wait(30)

    try:
        rpc(
            control,
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
        if args.oversized_only:
            oversized_body_refusal(url)
            return
        latency_wamids = [f"wamid.BENCHLAT{i}" for i in range(args.latency_events)]
        if args.latency_only:
            create_outbound_messages(db, paths, latency_wamids)
            latency_section(url, db, args.latency_events, args.latency_pace, args.latency_clients)
            return
        # Single statuses: 2 x requests (rounds, then timed alone), then a batch region.
        offset = 2 * args.requests + 100
        wamids = [f"wamid.BENCHOUT{i}" for i in range(offset + 2 * args.requests * args.batch // args.batch + 100)]
        # With --through-nginx, statuses for the direct / through nginx comparison too.
        compared_wamids = [f"wamid.BENCHCMP{i}" for i in range(2 * args.requests if args.through_nginx else 0)]
        create_outbound_messages(db, paths, wamids + compared_wamids + (latency_wamids if args.latency else []))
        print(
            f"{mode}, {args.clients} concurrent clients, {args.requests} requests per scenario, "
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
            control,
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
                    return rpc(control, db, "ir.cron", "write", [cron_id], {"active": False})
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
            resume_ingestion("  ...then ingested")
            return ratio

        def resume_ingestion(label):
            """Ingestion on again, timed until the queue left while it was paused is empty."""
            pending = sum(
                row["event_count"]
                for row in rpc(
                    control,
                    db,
                    "contact.centre.webhook.event",
                    "search_read",
                    [["state", "=", "pending"]],
                    ["event_count"],
                )
            )
            rpc(control, db, "ir.cron", "write", [cron_id], {"active": True})
            # The triggers left while it was paused were notified to no one: replace them by a fresh one.
            triggers = rpc(control, db, "ir.cron.trigger", "search", [["cron_id", "=", cron_id]])
            rpc(control, db, "ir.cron.trigger", "unlink", triggers)
            began = time.perf_counter()
            rpc(control, db, "contact.centre.webhook.event", "action_retry", [])  # wakes the processor
            wait_ingested(control, db, began, pending, label=label)

        def direct_against_nginx():
            """The same Odoo reached straight on its HTTP port and through nginx (HTTPS), in
            alternating rounds (ingestion paused): the cost of the proxy, drift of the machine aside."""
            print("direct to Odoo's HTTP port vs through nginx (HTTPS), alternating rounds, ingestion paused:")
            pause_ingestion()
            size = args.requests // ROUNDS

            def compared_status(i):
                return (
                    "POST",
                    "/contact_centre/webhook/whatsapp",
                    *signed(envelope("statuses", [status(compared_wamids[i], "delivered")])),
                )

            scenarios = (
                ("GET /web/health", health),
                ("single status callback", compared_status),
                ("single inbound message", single_inbound),
            )
            for name, make_request in scenarios:
                rates = {"direct": [], "nginx": []}
                for index in range(ROUNDS):
                    for label, base in (("direct", control), ("nginx", url)):
                        start = 2 * index * size + (size if label == "nginx" else 0)
                        rate, _ = run("", base, size, args.clients, make_request, start=start, quiet=True)
                        rates[label].append(rate)
                direct, nginx = statistics.median(rates["direct"]), statistics.median(rates["nginx"])
                print(
                    f"  {name:32s} direct {direct:5.0f} req/s, through nginx {nginx:5.0f} req/s: {nginx / direct:.0%}"
                )
            resume_ingestion("  ...then ingested")

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
        wait_ingested(control, db, began, args.requests, label="  ...ingested end to end")
        _rate, began = run("single inbound message", url, args.requests, args.clients, single_inbound)
        wait_ingested(control, db, began, args.requests, label="  ...ingested end to end")
        print(
            f"single status callbacks answered at {status_ratio:.0%} of the /web/health ceiling, "
            f"single inbound messages at {inbound_ratio:.0%} (target 80%)"
        )
        if args.through_nginx:
            direct_against_nginx()
        if args.latency:
            latency_section(url, db, args.latency_events, args.latency_pace, args.latency_clients)
    finally:
        stop()
        if not args.keep_db:
            drop_database(db)


if __name__ == "__main__":
    main()
