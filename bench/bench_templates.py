"""Synchronise a WhatsApp Business Account of 250 templates with Meta (the simulator).

    python bench/bench_templates.py [--templates 250] [--ours 50] [--latency-ms 100]

A throwaway database with the addon; the simulator, in its own process, holds ``--templates``
templates of one business account (text and image headers, body variables, footers, quick reply, URL,
phone and copy-code buttons), each answer delayed by ``--latency-ms`` (Meta answers a page in about
that). ``--ours`` of them were made in Odoo beforehand (drafts, matched by name and language). Times,
as the administrator's Sync button does it: the first sync (the others created, ours updated), then a
second one after Meta changed the status of a fifth of them. Target: under 5 s each.
"""

import argparse
import os
import sys
import time

import requests

sys.path.insert(0, os.path.dirname(__file__))
from common import addons_path, create_database, drop_database, start_simulator  # noqa: E402
from dispatch_worker import environment  # noqa: E402

WABA = "waba-bench"


def remote_template(index):
    """One template as WhatsApp Manager would have made it, of five kinds in turn."""
    kind = index % 5
    components = []
    if kind == 1:
        components.append(
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#1"]}}
        )
    elif kind == 2:
        components.append({"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://x/y.png"]}})
    components.append(
        {
            "type": "BODY",
            "text": f"Hello {{{{1}}}}, update {index}: your order {{{{2}}}} is on its way.",
            "example": {"body_text": [["Ann", "#42"]]},
        }
    )
    if kind in (1, 3):
        components.append({"type": "FOOTER", "text": "Reply STOP to opt out"})
    buttons = {
        1: [{"type": "QUICK_REPLY", "text": "Thanks"}, {"type": "QUICK_REPLY", "text": "Stop"}],
        2: [
            {
                "type": "URL",
                "text": "Track",
                "url": "https://shop.example/t/{{1}}",
                "example": ["https://shop.example/t/42"],
            },
            {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+32470000000"},
        ],
        3: [{"type": "COPY_CODE", "example": ["SAVE10"]}],
    }.get(kind)
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return {
        "name": f"bench_template_{index:04d}",
        "language": "en_US" if index % 7 else "fr",
        "category": "MARKETING" if kind == 3 else "UTILITY",
        "status": ("APPROVED", "APPROVED", "PENDING", "REJECTED", "PAUSED")[index % 5],
        "quality": ("GREEN", "YELLOW", "UNKNOWN")[index % 3],
        "rejected_reason": "INVALID_FORMAT" if index % 5 == 3 else "NONE",
        "components": components,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--templates", type=int, default=250)
    parser.add_argument("--ours", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=100)
    args = parser.parse_args()
    db, paths = f"cc_bench_templates_{os.getpid()}", addons_path()
    simulator, url = start_simulator(latency_ms=args.latency_ms)
    create_database(db, paths)
    try:
        templates = [remote_template(index) for index in range(args.templates)]
        requests.post(f"{url}/_sim/templates", json={"waba_id": WABA, "templates": templates}, timeout=60)
        env = environment(db, paths)
        env = env(context={})  # as a person clicking Sync: tracking on
        config = env["contact.centre.whatsapp.config"].create(
            {
                "name": "Bench",
                "account_id": WABA,
                "phone_number_id": "100000000000777",
                "access_token": "token",
                "app_secret": "secret",
                "api_base_url": url,
            }
        )
        Template = env["contact.centre.template"]
        Template.create(
            [
                {
                    "name": f"Ours {index}",
                    "channel": "whatsapp",
                    "whatsapp_config_id": config.id,
                    "meta_template_name": template["name"],
                    "language": template["language"],
                    "body_text": "Hello {{1}}, this is ours.",
                }
                for index, template in enumerate(templates[: args.ours])
            ]
        )
        env.cr.commit()
        pages = -(-args.templates // 100)
        print(
            f"{args.templates} templates at Meta ({args.ours} of them also in Odoo), {pages} pages of 100, "
            f"{args.latency_ms:.0f} ms per Graph API answer",
            flush=True,
        )
        for run in ("first sync", "second sync"):
            began = time.perf_counter()
            result = Template._action_sync_meta(config)
            env.cr.commit()
            elapsed = time.perf_counter() - began
            print(f"{run:12s} {elapsed:5.2f} s   {result['params']['message']}", flush=True)
            if run == "first sync":
                # Meta reviews a fifth of them meanwhile.
                for template in templates[: args.templates : 5]:
                    requests.post(
                        f"{url}/_sim/templates/{template['name']}/status", json={"status": "DISABLED"}, timeout=10
                    )
        count = Template.search_count([("whatsapp_config_id", "=", config.id)])
        print(f"templates in Odoo: {count}", flush=True)
        env.cr.close()
        from odoo.sql_db import close_db  # noqa: PLC0415 - Odoo is on the path once environment() ran

        close_db(db)
    finally:
        simulator.kill()
        drop_database(db)


if __name__ == "__main__":
    main()
