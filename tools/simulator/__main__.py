"""python -m tools.simulator --host 127.0.0.1 --port 8899 [--latency-ms 50] [--meta-webhook-url URL ...]"""

import argparse
import logging

from .server import make_server


def main():
    parser = argparse.ArgumentParser(description="Local simulator of the Meta, Twilio and Infobip APIs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--meta-webhook-url", help="Where signed Meta status webhooks are posted.")
    parser.add_argument("--meta-app-secret", default="demo-app-secret")
    parser.add_argument("--no-callbacks", action="store_true", help="Do not post status webhooks.")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s sim %(message)s")
    server = make_server(args.host, args.port)
    server.state.configure(
        {
            "latency_ms": args.latency_ms,
            "meta_webhook_url": args.meta_webhook_url,
            "meta_app_secret": args.meta_app_secret,
            "callbacks": not args.no_callbacks,
        }
    )
    logging.getLogger(__name__).warning("simulator listening on http://%s:%s", args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
