"""Campaign dispatch: N recipients, the simulator with 50 ms of latency, one Odoo process.

    python bench/bench_dispatch.py [--recipients 100000 20000] [--latency-ms 50] [--rate-limit 2000]

Prints messages per second and the dispatching process's peak memory for each campaign size, so
that one can see that memory does not grow with the size of the campaign.
"""

import argparse
import json
import os
import subprocess
import sys

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rate-limit", type=int, default=2000)
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


if __name__ == "__main__":
    main()
