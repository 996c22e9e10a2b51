"""Send N messages through each provider implementation to the simulator (with added latency)
and print messages per second. The simulator runs in its own process so that it does not share
the client's interpreter lock.

    python bench/bench_providers.py [--count 10000] [--latency-ms 50] [--in-flight 200]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from common import start_simulator  # noqa: E402

from tools.providers import (  # noqa: E402
    CustomHttpProvider,
    InfobipProvider,
    MetaCloudProvider,
    OutboundMessage,
    ProviderError,
    TwilioProvider,
)
from tools.simulator.control import configure  # noqa: E402


def providers(base_url):
    return {
        "meta": MetaCloudProvider("100000000000001", "token", base_url=base_url),
        "twilio": TwilioProvider("ACbench", "token", sender="+15005550006", base_url=base_url),
        "infobip": InfobipProvider(base_url=base_url, api_key="key", sender="ACME"),
        "custom": CustomHttpProvider(
            url=f"{base_url}/custom/send", body_template='{"to": "{{to}}", "text": "{{text}}"}'
        ),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--in-flight", type=int, default=200)
    args = parser.parse_args()
    process, base_url = start_simulator(args.latency_ms)
    try:
        print(
            f"{args.count} messages per provider, simulator latency {args.latency_ms:g} ms, "
            f"{args.in_flight} requests in flight, {os.cpu_count()} cores"
        )
        for name, provider in providers(base_url).items():
            configure(base_url, latency_ms=args.latency_ms, callbacks=False)
            provider.pool_size = args.in_flight
            messages = [OutboundMessage(to="+32470123456", channel="sms", text=f"bench {i}") for i in range(args.count)]
            provider.send_many(messages[:50], max_in_flight=args.in_flight)  # warm the connection pools
            start = time.perf_counter()
            results = provider.send_many(messages, max_in_flight=args.in_flight)
            elapsed = time.perf_counter() - start
            failed = sum(isinstance(r, ProviderError) for r in results)
            print(f"{name:8s} {args.count / elapsed:8.0f} messages/s  ({elapsed:.1f} s, {failed} failed)", flush=True)
    finally:
        process.terminate()
        process.wait(5)


if __name__ == "__main__":
    main()
