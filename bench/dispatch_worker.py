"""One Odoo process that sets up or runs a campaign dispatch, for the dispatch benchmark and the
crash test (which kills it mid-campaign and starts it again).

    python bench/dispatch_worker.py DB ADDONS_PATH setup SIMULATOR_URL RECIPIENTS [RATE_LIMIT]
    python bench/dispatch_worker.py DB ADDONS_PATH run

``run`` prints one JSON line: messages sent by this run, seconds, messages/s, peak RSS in MB.
"""

import json
import os
import resource
import sys
import time


def environment(db, addons_path):
    sys.path.insert(0, os.environ.get("ODOO_PATH", "/opt/odoo"))
    import odoo  # noqa: PLC0415 - Odoo is loaded only here, once the paths are known
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(["-d", db, f"--addons-path={addons_path}", "--log-level=warn"])
    registry = Registry(db)
    cr = registry.cursor()
    return odoo.api.Environment(cr, odoo.api.SUPERUSER_ID, {"tracking_disable": True, "mail_create_nolog": True})


def setup(env, simulator_url, count, rate_limit):
    whatsapp = env["contact.centre.whatsapp.config"].create(
        {
            "name": "Bench",
            "account_id": "waba-bench",
            "phone_number_id": "100000000000999",
            "access_token": "token",
            "app_secret": "secret",
            "api_base_url": simulator_url,
            "rate_limit": rate_limit,
        }
    )
    template = env["contact.centre.template"].create(
        {
            "name": "Bench",
            "channel": "whatsapp",
            "whatsapp_config_id": whatsapp.id,
            "meta_template_name": "bench",
            "approval_status": "approved",
            "body_text": "Hello {{1}}, this is a benchmark",
            "variable_ids": [(0, 0, {"placeholder": "1", "field_name": "name"})],
        }
    )
    Contact = env["contact.centre.contact"]
    ids = []
    for start in range(0, count, 5000):
        ids += Contact.create(
            [
                {"name": f"Contact {i}", "whatsapp_number": f"+32470{i:06d}", "opt_in_whatsapp": True}
                for i in range(start, min(count, start + 5000))
            ]
        ).ids
        env.cr.commit()
    campaign = env["contact.centre.campaign"].create(
        {
            "name": f"Bench {count}",
            "channel": "whatsapp",
            "template_id": template.id,
            "whatsapp_config_id": whatsapp.id,
            "use_quiet_hours": False,
        }
    )
    env.cr.execute(
        "INSERT INTO contact_centre_campaign_contact_rel (campaign_id, contact_id) SELECT %s, unnest(%s::int[])",
        [campaign.id, ids],
    )
    campaign.action_schedule()
    env.cr.commit()
    print(json.dumps({"campaign": campaign.id, "contacts": len(ids)}), flush=True)


def run(env):
    Campaign = env["contact.centre.campaign"]
    Message = env["contact.centre.message"]
    before = Message.search_count([("campaign_id", "!=", False), ("status", "!=", "queued")])
    started = time.perf_counter()
    Campaign._process_dispatch()
    env.cr.commit()
    seconds = time.perf_counter() - started
    sent = Message.search_count([("campaign_id", "!=", False), ("status", "!=", "queued")]) - before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    states = dict(env["contact.centre.campaign.recipient"]._read_group([], ["state"], ["__count"]))
    print(
        json.dumps(
            {
                "sent": sent,
                "seconds": round(seconds, 2),
                "rate": round(sent / seconds, 1) if seconds else 0,
                "peak_rss_mb": round(peak_mb, 1),
                "states": states,
            }
        ),
        flush=True,
    )


def main():
    db, addons_path, command = sys.argv[1:4]
    env = environment(db, addons_path)
    try:
        if command == "setup":
            rate = int(sys.argv[6]) if len(sys.argv) > 6 else 2000
            setup(env, sys.argv[4], int(sys.argv[5]), rate)
        else:
            run(env)
    finally:
        env.cr.close()


if __name__ == "__main__":
    main()
