"""Campaign dispatch against the provider layer alone and Odoo's own mass SMS, side by side: in
one run, on one simulator (50 ms of latency), for Meta (WhatsApp), Twilio (SMS) and Infobip (SMS):

(a) the provider layer alone: ``tools.providers`` ``send_many`` of the messages a campaign sends,
    with as many requests in flight as the dispatch keeps (``contact_centre.max_in_flight``);
(b) the campaign dispatch of N recipients (``_process_dispatch``, one Odoo process);
(c) Twilio only: Odoo's own mass SMS, the unmodified ``sms`` + ``sms_twilio`` sending its
    ``sms.sms`` queue (``_process_queue``), its Twilio host pointed at the simulator;
(d) with ``--cron``: the same dispatch as users get it, by an Odoo server's cron (one cron thread,
    jobs of ten seconds: ``ir.cron._run_job``), from its first message to its last.

    python bench/bench_dispatch.py [--recipients 20000] [--rounds 1] [--providers meta twilio infobip]
    python bench/bench_dispatch.py --recipients 1000000 --dispatch-seconds 60
    python bench/bench_dispatch.py --processes 2 --recipients 20000 --rate-limit 500

Prints, for each provider, the ratios dispatch / provider alone and (Twilio) dispatch / Odoo's
own first, then the messages per second of each; the three are measured one after the other,
provider by provider, in an order reversed every other round, so that the load of a shared machine
falls on them alike. ``--rounds`` repeats them and prints each round, then the medians.

With ``--recipients`` of 100,000 or more (a million: the contacts are made in SQL): the
audience's preparation time (``_prepare_recipients``), the throughput and peak RSS of a dispatch
stopped after ``--dispatch-seconds`` (the dispatch cron's time being up), the peak RSS of a full
20,000-recipient dispatch to compare with, and the time of reading the campaign form's statistics
from a second connection during the dispatch.

With ``--processes``: several processes dispatch one Meta campaign at once, as two cron workers or
two hosts would; prints how many each sent, the duplicates (must be 0) and the busiest one-second
window against the rate limit (a total, whatever the number of processes): of the departures, the
moments the sender processes called the provider (``departures/sitecustomize.py``), and of the
arrivals the simulator stamped (late by as long as its own threads, on the same cores, took to read
each request).
"""

import argparse
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from bench_providers import campaign_messages, measure, providers  # noqa: E402
from common import (  # noqa: E402
    addons_path,
    cpu_seconds,
    create_database,
    drop_database,
    free_port,
    percentiles,
    sql,
    start_odoo,
    start_simulator,
)

from tools.sending import busiest_window  # noqa: E402
from tools.simulator.control import configure, reset, sent_messages  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORKER = os.path.join(os.path.dirname(__file__), "dispatch_worker.py")
PROVIDERS = ("meta", "twilio", "infobip")
LARGE = 100_000  # from this many recipients: the million-recipient report
REFERENCE = 20_000  # recipients of the run whose peak RSS a large one is compared with
CRON_TIMEOUT = 600  # seconds a dispatch by a server's cron may take before the bench gives up


def worker(db, paths, *args):
    """The JSON line a ``dispatch_worker.py`` step prints (its errors shown when it fails)."""
    output = subprocess.run([sys.executable, WORKER, db, paths, *map(str, args)], capture_output=True, text=True)
    if output.returncode:
        sys.stderr.write(output.stderr[-5000:])
        raise SystemExit(f"dispatch_worker.py {args[0]} failed")
    return json.loads(output.stdout.strip().splitlines()[-1])


def run_together(db, paths, processes, departures):
    """``processes`` dispatching runs at once on the same campaign, their sender processes writing
    each departure in the folder ``departures`` (``departures/sitecustomize.py``); their JSON
    results."""
    tracing = os.path.join(os.path.dirname(__file__), "departures")
    python_path = os.pathsep.join(filter(None, [tracing, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "CC_BENCH_DEPARTURES": departures}
    running = [
        subprocess.Popen([sys.executable, WORKER, db, paths, "run"], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(processes)
    ]
    outputs = [process.communicate()[0] for process in running]
    if any(process.returncode for process in running):
        raise SystemExit("a dispatching run failed (its traceback is above)")
    return [json.loads(output.strip().splitlines()[-1]) for output in outputs]


def machine():
    """The machine the figures come from: cores, CPU model, load average now."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores ({model}), load average {load}"


def fresh_simulator(url, latency_ms):
    """Forget what the simulator received (its settings too: set them again)."""
    reset(url)
    configure(url, latency_ms=latency_ms, callbacks=False)


def received(url):
    return len(sent_messages(url, timeout=120))


def max_in_flight(db):
    rows = sql(db, "SELECT value FROM ir_config_parameter WHERE key = 'contact_centre.max_in_flight'")
    return int(rows[0][0]) if rows and rows[0][0] else 100


def provider_alone(url, args, name, in_flight):
    fresh_simulator(url, args.latency_ms)
    count = min(args.recipients, args.provider_messages)
    rate, seconds, failed, cpu = measure(providers(url)[name], campaign_messages(name, count), in_flight)
    return {"rate": rate, "sent": count - failed, "seconds": seconds, "failed": failed, "cpu": {"client": cpu}}


def with_simulator_cpu(simulator_pid, measurement):
    """``measurement()``'s figures, with the simulator's CPU seconds meanwhile in their ``cpu``."""
    before = cpu_seconds(simulator_pid)
    figures = measurement()
    if "cpu" in figures:
        figures["cpu"]["simulator"] = cpu_seconds(simulator_pid) - before
    return figures


def dispatch(db, paths, url, args, settings, name, count, limit=None, stats=False):
    """A new campaign of ``count`` recipients through provider ``name``: made, prepared (timed),
    dispatched in its own process (for ``limit`` seconds, as the cron, when given) while, with
    ``stats``, a second process reads the campaign form's statistics."""
    fresh_simulator(url, args.latency_ms)
    made = worker(db, paths, "campaign", json.dumps(settings), name, count)
    reader = None
    if stats:
        reader = subprocess.Popen(
            [sys.executable, WORKER, db, paths, "stats", str(made["campaign"])], stdout=subprocess.PIPE, text=True
        )
    result = worker(db, paths, "run", *([limit] if limit else []))
    if reader is not None:
        reader.send_signal(signal.SIGTERM)
        output, _ = reader.communicate(timeout=1800)
        result["reads"] = json.loads(output.strip().splitlines()[-1])
    return {**made, **result, "received": received(url)}


def through_cron(db, paths, url, args, settings, name, count):
    """A new campaign of ``count`` recipients (made and prepared as for ``dispatch``) sent by an
    Odoo server's cron, as users get it: timed from the first message the simulator received to
    the last (the server's start and its first wake-up left out)."""
    fresh_simulator(url, args.latency_ms)
    made = worker(db, paths, "campaign", json.dumps(settings), name, count)
    server, _server_url = start_odoo(db, paths, free_port(), "--max-cron-threads", "1")
    try:
        deadline = time.monotonic() + CRON_TIMEOUT
        while time.monotonic() < deadline and sql(
            db,
            "SELECT 1 FROM contact_centre_campaign_recipient WHERE campaign_id = %s "
            "AND state IN ('pending', 'sending') LIMIT 1",
            (made["campaign"],),
        ):
            time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=60)
    arrivals = sorted(m["at"] for m in sent_messages(url, timeout=120))
    seconds = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    rate = (len(arrivals) - 1) / seconds if seconds else 0.0
    return {"sent": len(arrivals), "seconds": round(seconds, 2), "rate": round(rate, 1), "received": len(arrivals)}


def odoo_own(db, paths, url, args):
    fresh_simulator(url, args.latency_ms)
    result = worker(db, paths, "odoo_sms", url, min(args.recipients, args.odoo_sms))
    return {**result, "received": received(url)}


def ratio(part, whole):
    return f"{part / whole:5.2f}" if part and whole else "    -"


def report_line(name, figures):
    provider, run, odoo = figures["provider"], figures["dispatch"], figures.get("odoo")
    line = (
        f"{name:8s} dispatch/provider {ratio(run['rate'], provider['rate'])}  "
        f"dispatch/odoo {ratio(run['rate'], odoo['rate']) if odoo else '    -'}  |  "
        f"provider {provider['rate']:6.0f}/s  dispatch {run['rate']:6.0f}/s"
    )
    if odoo:
        line += f"  odoo {odoo['rate']:6.1f}/s"
    return line


def report_details(figures):
    provider, run, odoo = figures["provider"], figures["dispatch"], figures.get("odoo")
    details = [
        f"  provider alone: {provider['sent']} sent in {provider['seconds']:.1f} s, {provider['failed']} failed",
        f"  dispatch: {run['sent']} sent in {run['seconds']} s, simulator received {run['received']}, "
        f"audience prepared in {run['prepare_seconds']} s, peak RSS {run['peak_rss_mb']} MB",
        f"  sender process ready after {run.get('sender_start_seconds', 0)} s; {past_sender_start(run, provider)}",
    ]
    details.append(f"  CPU per message: provider alone {cpu_split(provider)}; dispatch {cpu_split(run)}")
    cron = figures.get("cron")
    if cron:
        details.append(
            f"  through Odoo's cron: {cron['sent']} sent in {cron['seconds']} s from the first to the last, "
            f"{cron['rate']:.0f}/s ({ratio(cron['rate'], provider['rate']).strip()} of the provider alone)"
        )
    if odoo:
        details.append(
            f"  odoo's own: {odoo['sent']} sent in {odoo['seconds']} s, simulator received {odoo['received']}, "
            f"sms.sms states {odoo['states']}"
        )
    return details


def past_sender_start(run, provider):
    """The dispatch's rate from the moment its sender process was ready (a fixed cost of each run:
    Infobip's SDK import takes seconds), for what it tells, not as the ratio of the target."""
    seconds = float(run["seconds"]) - run.get("sender_start_seconds", 0)
    if not run["sent"] or seconds <= 0:
        return "-"
    rate = run["sent"] / seconds
    return f"past it {rate:.0f}/s, {ratio(rate, provider['rate']).strip()} of the provider alone"


def cpu_split(figures):
    """Milliseconds of CPU per message of each process, and the cores they kept busy together."""
    cpu = figures.get("cpu") or {}
    if not cpu or not figures["sent"]:
        return "-"
    parts = ", ".join(f"{part} {seconds / figures['sent'] * 1000:.2f} ms" for part, seconds in cpu.items())
    return f"{parts} ({sum(cpu.values()) / float(figures['seconds']):.2f} cores)"


def compare(db, paths, url, args, settings, simulator_pid):
    """The three measurements per provider, ``args.rounds`` times, alternated."""
    in_flight = max_in_flight(db)
    names = args.providers or PROVIDERS
    print(
        f"{args.recipients} recipients per dispatch, provider alone: {min(args.recipients, args.provider_messages)} "
        f"messages with {in_flight} in flight (contact_centre.max_in_flight), Odoo's own SMS: "
        f"{min(args.recipients, args.odoo_sms)} sms.sms",
        flush=True,
    )
    rounds = []
    for index in range(args.rounds):
        figures = {}
        for name in names if index % 2 == 0 else reversed(names):
            steps = ["provider", "dispatch"] + (["odoo"] if name == "twilio" and args.odoo_sms else [])
            steps += ["cron"] if args.cron else []
            figures[name] = {}
            for step in steps if index % 2 == 0 else reversed(steps):
                if step == "provider":
                    figures[name][step] = with_simulator_cpu(
                        simulator_pid, lambda name=name: provider_alone(url, args, name, in_flight)
                    )
                elif step == "dispatch":
                    figures[name][step] = with_simulator_cpu(
                        simulator_pid, lambda name=name: dispatch(db, paths, url, args, settings, name, args.recipients)
                    )
                elif step == "cron":
                    figures[name][step] = through_cron(db, paths, url, args, settings, name, args.recipients)
                else:
                    figures[name][step] = odoo_own(db, paths, url, args)
                print(f"  ({name} {step}: {figures[name][step]['rate']:.1f} messages/s)", flush=True)
        print(f"round {index + 1} ({machine()}):", flush=True)
        for name in names:
            print(report_line(name, figures[name]), flush=True)
            for line in report_details(figures[name]):
                print(line, flush=True)
        rounds.append(figures)
    if len(rounds) > 1:
        print(f"median of {len(rounds)} rounds:", flush=True)
        for name in names:
            median = {
                step: {"rate": statistics.median(r[name][step]["rate"] for r in rounds)} for step in rounds[0][name]
            }
            print(report_line(name, median), flush=True)


def large(db, paths, url, args, settings):
    """The million-recipient report: preparation, a bounded dispatch, its memory against a
    20,000-recipient dispatch's, the form's statistics read during it."""
    for name in args.providers or ("meta",):
        reference = dispatch(db, paths, url, args, settings, name, REFERENCE)
        print(
            f"{name}: {REFERENCE} recipients (whole dispatch): {reference['rate']:.0f} messages/s, "
            f"peak RSS {reference['peak_rss_mb']} MB",
            flush=True,
        )
        big = dispatch(db, paths, url, args, settings, name, args.recipients, limit=args.dispatch_seconds, stats=True)
        growth = 100.0 * (big["peak_rss_mb"] - reference["peak_rss_mb"]) / reference["peak_rss_mb"]
        reads = [ms for began, ms in big["reads"]["statistics"] if big["began"] <= began <= big["ended"]]
        print(
            f"{name}: {args.recipients} recipients: contacts made in SQL in {big['contacts_seconds']} s; "
            f"audience prepared in {big['prepare_seconds']} s (target < 60 s)",
            flush=True,
        )
        print(
            f"  dispatch for {args.dispatch_seconds:g} s: {big['sent']} sent in {big['seconds']} s "
            f"= {big['rate']:.0f} messages/s, simulator received {big['received']}; peak RSS {big['peak_rss_mb']} MB, "
            f"{growth:+.1f}% against {REFERENCE} recipients (target within 10%)",
            flush=True,
        )
        if reads:
            _median, p95 = percentiles([ms / 1000 for ms in reads])
            print(
                f"  form statistics read during the dispatch ({len(reads)} reads): max {max(reads):.0f} ms, "
                f"p95 {p95:.0f} ms (target < 200 ms)",
                flush=True,
            )
        else:
            print("  no read of the form's statistics ended within the dispatch", flush=True)
        print(
            f"  after the dispatch: whole form web_read {big['reads']['form_ms']:.0f} ms, "
            f"of which the audience count {big['reads']['audience_count_ms']:.0f} ms",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=20000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rate-limit", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the measurements, each round printed")
    parser.add_argument("--providers", nargs="+", choices=PROVIDERS, help="default: all; meta for a large run")
    parser.add_argument(
        "--provider-messages", type=int, default=20000, help="at most this many messages for the provider alone"
    )
    parser.add_argument(
        "--odoo-sms",
        type=int,
        default=2000,
        help="at most this many sms.sms for Odoo's own SMS (it sends one at a time: 20 per second at 50 ms); 0: skip",
    )
    parser.add_argument(
        "--dispatch-seconds", type=float, default=60, help="large runs: stop the dispatch after this many seconds"
    )
    parser.add_argument("--processes", type=int, default=1, help="dispatching processes on the same campaign")
    parser.add_argument(
        "--cron", action="store_true", help="also the dispatch by an Odoo server's cron, as users get it"
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop the bench database at the end")
    parser.add_argument("--database", help="use this existing bench database (kept) instead of a new one")
    args = parser.parse_args()
    simulator, url = start_simulator(args.latency_ms)
    paths = addons_path()
    db = args.database or f"cc_bench_dispatch_{os.getpid()}"
    try:
        print(
            f"simulator latency {args.latency_ms:g} ms, rate limit {args.rate_limit}/s, {machine()} "
            "(simulator, PostgreSQL and Odoo share the cores)",
            flush=True,
        )
        if args.processes > 1:
            create_database(db, paths)
            worker(db, paths, "setup", url, args.recipients, args.rate_limit)
            fresh_simulator(url, args.latency_ms)
            report_together(db, paths, url, args.recipients, args)
            return
        if not args.database:
            create_database(db, paths, "contact_centre,sms_twilio")
        settings = worker(db, paths, "configure", url, args.rate_limit)
        if args.recipients >= LARGE:
            large(db, paths, url, args, settings)
        else:
            compare(db, paths, url, args, settings, simulator.pid)
        print(f"done ({machine()})", flush=True)
    finally:
        simulator.terminate()
        if not (args.keep_database or args.database):
            drop_database(db)


def report_together(db, paths, url, count, args):
    with tempfile.TemporaryDirectory(prefix="cc-departures-") as departures:
        results = run_together(db, paths, args.processes, departures)
        lines = [line for name in os.listdir(departures) for line in pathlib.Path(departures, name).read_text().split()]
    sent_at = [float(line) for line in lines if line != "late"]
    messages = sent_messages(url, timeout=120)
    duplicates = sum(n - 1 for n in Counter(m["to"] for m in messages).values() if n > 1)
    seconds = max(result["seconds"] for result in results)
    # Each run marks what it claims with its own token: how the runs shared the campaign.
    shares = sql(
        db,
        "SELECT count(*) FROM contact_centre_message WHERE campaign_id IS NOT NULL "
        "GROUP BY send_claim_token ORDER BY 1 DESC",
    )
    print(
        f"{count:7d} recipients, {args.processes} processes: "
        + f"{len(messages)} received by the provider in {seconds} s ({len(messages) / seconds:.0f}/s), "
        f"sent by each run {' / '.join(str(n) for (n,) in shares)}, duplicates {duplicates}; busiest second "
        f"{busiest_window(sent_at)} messages as sent ({len(sent_at)} departures; "
        f"{len(lines) - len(sent_at)} booked again, woken too late), "
        f"{busiest_window([m['at'] for m in messages])} as the simulator stamped their arrival "
        f"(limit {args.rate_limit}/s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
