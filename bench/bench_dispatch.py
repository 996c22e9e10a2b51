"""Campaign dispatch: N recipients, the simulator with 50 ms of latency, one Odoo process (or
several dispatching the same campaign at once, as two cron workers or two hosts would).

    python bench/bench_dispatch.py [--recipients 100000 20000] [--latency-ms 50] [--rate-limit 2000]
    python bench/bench_dispatch.py --processes 2 --recipients 20000 --rate-limit 500

Prints messages per second and the dispatching process's peak memory for each campaign size, so
that one can see that memory does not grow with the size of the campaign. With ``--processes``,
also the duplicates (must be 0) and the busiest one-second window the provider saw against the
rate limit (the limit is a total, whatever the number of processes).
"""

import argparse
import json
import os
import subprocess
import sys
from collections import Counter

import requests

sys.path.insert(0, os.path.dirname(__file__))
from common import addons_path, create_database, drop_database, start_simulator  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORKER = os.path.join(os.path.dirname(__file__), "dispatch_worker.py")


def worker(db, paths, *args):
    output = subprocess.run(
        [sys.executable, WORKER, db, paths, *map(str, args)], check=True, capture_output=True, text=True
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def run_together(db, paths, processes):
    """``processes`` dispatching runs at once on the same campaign; their JSON results."""
    running = [
        subprocess.Popen([sys.executable, WORKER, db, paths, "run"], stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    results = []
    for process in running:
        output, _ = process.communicate()
        results.append(json.loads(output.strip().splitlines()[-1]))
    return results


def busiest_second(times):
    """The most messages in any one-second window of ``times`` (seconds)."""
    times, best, start = sorted(times), 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rate-limit", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=1, help="dispatching processes on the same campaign")
    args = parser.parse_args()
    simulator, url = start_simulator(args.latency_ms)
    paths = addons_path()
    try:
        print(
            f"simulator latency {args.latency_ms:g} ms, rate limit {args.rate_limit}/s, {os.cpu_count()} cores "
            "(simulator, PostgreSQL and Odoo share them)",
            flush=True,
        )
        for count in args.recipients:
            db = f"cc_bench_dispatch_{count}_{os.getpid()}"
            create_database(db, paths)
            try:
                worker(db, paths, "setup", url, count, args.rate_limit)
                if args.processes > 1:
                    report_together(db, paths, url, count, args)
                else:
                    result = worker(db, paths, "run")
                    sent = len(requests.get(f"{url}/_sim/messages", timeout=120).json()["messages"])
                    print(
                        f"{count:7d} recipients: {result['rate']:7.0f} messages/s ({result['sent']} sent in "
                        f"{result['seconds']} s), peak RSS {result['peak_rss_mb']} MB, simulator received {sent}",
                        flush=True,
                    )
                requests.post(f"{url}/_sim/reset", timeout=30)
            finally:
                drop_database(db)
    finally:
        simulator.terminate()


def report_together(db, paths, url, count, args):
    results = run_together(db, paths, args.processes)
    messages = requests.get(f"{url}/_sim/messages", timeout=120).json()["messages"]
    duplicates = sum(n - 1 for n in Counter(m["to"] for m in messages).values() if n > 1)
    seconds = max(result["seconds"] for result in results)
    print(
        f"{count:7d} recipients, {args.processes} processes: "
        + f"{len(messages)} received by the provider in {seconds} s ({len(messages) / seconds:.0f}/s), "
        f"duplicates {duplicates}, busiest second {busiest_second([m['at'] for m in messages])} messages "
        f"(limit {args.rate_limit}/s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
