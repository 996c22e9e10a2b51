"""Send N messages through each provider implementation to the simulator (with added latency)
and print messages per second. The simulator runs in its own process so that it does not share
the client's interpreter lock. The messages are those a campaign sends (a Meta template with a
body variable, an SMS text with our reference and status callback), with as many requests in
flight as the dispatch keeps (``contact_centre.max_in_flight``, 100 by default):
``bench_dispatch.py`` measures the provider layer alone with these functions.

    python bench/bench_providers.py [--count 10000] [--latency-ms 50] [--in-flight 100]
"""

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from common import rusage_seconds, start_simulator  # noqa: E402

from tools.providers import (  # noqa: E402
    CustomHttpProvider,
    InfobipProvider,
    MetaCloudProvider,
    OutboundMessage,
    ProviderError,
    TemplateMessage,
    TwilioProvider,
)
from tools.simulator.control import configure  # noqa: E402

MAX_IN_FLIGHT = 100  # contact_centre.max_in_flight, the default


def providers(base_url):
    return {
        "meta": MetaCloudProvider("100000000000001", "token", base_url=base_url),
        "twilio": TwilioProvider("ACbench", "token", sender="+15005550006", base_url=base_url),
        "infobip": InfobipProvider(base_url=base_url, api_key="key", sender="ACME"),
        "custom": CustomHttpProvider(
            url=f"{base_url}/custom/send", body_template='{"to": "{{to}}", "text": "{{text}}"}'
        ),
    }


def campaign_messages(name, count):
    """``count`` messages as a campaign hands them to provider ``name``: a template with its body
    variable (Meta), a text with our reference and a status callback URL (SMS)."""
    if name == "meta":
        return [
            OutboundMessage(
                to=f"+32{470000000 + i}",
                channel="whatsapp",
                template=TemplateMessage(
                    "bench", "en", [{"type": "body", "parameters": [{"type": "text", "text": f"Contact {i}"}]}]
                ),
                client_ref=f"cc-bench-{i}",
            )
            for i in range(count)
        ]
    return [
        OutboundMessage(
            to=f"+32{470000000 + i}",
            channel="sms",
            text=f"Hello Contact {i}, this is a benchmark",
            status_callback="http://localhost:8069/contact_centre/webhook/twilio/1",
            client_ref=f"cc-bench-{i}",
        )
        for i in range(count)
    ]


def measure(provider, messages, in_flight):
    """(messages/s, seconds, failures, CPU seconds of this process) of
    ``provider.send_many(messages)`` with ``in_flight`` requests at once, after a few to open the
    connections (and import what the provider imports on first use)."""
    provider.pool_size = max(provider.pool_size, in_flight)
    provider.send_many(messages[:50], max_in_flight=in_flight)  # warm the connection pools
    start, cpu = time.perf_counter(), rusage_seconds(resource.RUSAGE_SELF)
    results = provider.send_many(messages, max_in_flight=in_flight)
    elapsed, cpu = time.perf_counter() - start, rusage_seconds(resource.RUSAGE_SELF) - cpu
    return len(messages) / elapsed, elapsed, sum(isinstance(r, ProviderError) for r in results), cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--in-flight", type=int, default=MAX_IN_FLIGHT)
    args = parser.parse_args()
    process, base_url = start_simulator(args.latency_ms)
    try:
        print(
            f"{args.count} messages per provider, simulator latency {args.latency_ms:g} ms, "
            f"{args.in_flight} requests in flight, {os.cpu_count()} cores"
        )
        for name, provider in providers(base_url).items():
            configure(base_url, latency_ms=args.latency_ms, callbacks=False)
            rate, elapsed, failed, _cpu = measure(provider, campaign_messages(name, args.count), args.in_flight)
            print(f"{name:8s} {rate:8.0f} messages/s  ({elapsed:.1f} s, {failed} failed)", flush=True)
    finally:
        process.terminate()
        process.wait(5)


if __name__ == "__main__":
    main()
