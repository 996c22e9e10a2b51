"""One Odoo process that sets up or runs a campaign dispatch, for the dispatch benchmark and the
crash test (which kills it mid-campaign and starts it again).

    python bench/dispatch_worker.py DB ADDONS_PATH setup SIMULATOR_URL RECIPIENTS [RATE_LIMIT]
    python bench/dispatch_worker.py DB ADDONS_PATH run [SECONDS]

``setup`` makes a Meta number and a campaign of RECIPIENTS contacts (ORM), scheduled. ``run``
dispatches what is due and prints one JSON line: messages sent by this run, seconds, messages/s,
peak RSS in MB, CPU seconds of the run, its sender process and its PostgreSQL backend, the wait for
the sender process; with SECONDS, it runs as the dispatch cron does with that much time, and stops
when the cron's time is up (``ir.cron._commit_progress``).

The dispatch benchmark's steps, each printing one JSON line:

    configure SIMULATOR_URL RATE_LIMIT     Meta, Twilio and Infobip (SMS) configurations and
                                           templates on the simulator; Odoo's own Twilio SMS
                                           (``sms_twilio``) when it is installed
    campaign SETTINGS PROVIDER RECIPIENTS  RECIPIENTS new contacts made in SQL and a campaign to
                                           them through PROVIDER (meta, twilio, infobip; SETTINGS:
                                           what ``configure`` printed), scheduled, started, and its
                                           audience prepared (``_prepare_recipients``, timed)
    stats CAMPAIGN                         reads the campaign form's statistics every half second,
                                           timed, until SIGTERM; then the whole form once
    odoo_sms SIMULATOR_URL COUNT           Odoo's own SMS queue (``sms.sms._process_queue``) sends
                                           COUNT SMS through ``sms_twilio``, pointed at the simulator
"""

import contextlib
import json
import os
import resource
import signal
import sys
import time

from common import cpu_seconds, peak_rss_mb, rusage_seconds  # bench/common.py: this script's directory is on the path


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
    # Started and its audience prepared, as the dispatch cron's first run does: otherwise one of
    # the runs that follow prepares it while the others, finding it locked, leave the campaign.
    env["contact.centre.campaign"]._start_due()
    campaign._prepare_once()
    env.cr.commit()
    print(json.dumps({"campaign": campaign.id, "contacts": len(ids)}), flush=True)


def configure(env, simulator_url, rate_limit):
    """A configuration and an approved template per provider, all on the simulator (those of an
    earlier run of a kept database pointed at this one)."""
    whatsapp = made(
        env["contact.centre.whatsapp.config"],
        {
            "name": "Bench Meta",
            "account_id": "waba-bench",
            "phone_number_id": "100000000000999",
            "access_token": "token",
            "app_secret": "secret",
            "api_base_url": simulator_url,
            "rate_limit": rate_limit,
        },
    )
    SmsConfig = env["contact.centre.sms.config"]
    twilio = made(
        SmsConfig,
        {
            "name": "Bench Twilio",
            "provider": "twilio",
            "sender": "+15005550006",
            "twilio_account_sid": "ACbench000000000000000000000000000",
            "twilio_auth_token": "bench-auth-token",
            "api_base_url": simulator_url,
            "rate_limit": rate_limit,
        },
    )
    infobip = made(
        SmsConfig,
        {
            "name": "Bench Infobip",
            "provider": "infobip",
            "sender": "ACME",
            "infobip_api_key": "bench-key",
            "api_base_url": simulator_url,
            "rate_limit": rate_limit,
        },
    )
    Template = env["contact.centre.template"]
    meta_template = made(
        Template,
        {
            "name": "Bench",
            "channel": "whatsapp",
            "whatsapp_config_id": whatsapp.id,
            "meta_template_name": "bench",
            "approval_status": "approved",
            "body_text": "Hello {{1}}, this is a benchmark",
            "variable_ids": [(0, 0, {"placeholder": "1", "field_name": "name"})],
        },
    )
    sms_template = made(
        Template, {"name": "Bench SMS", "channel": "sms", "body_text": "Hello {{name}}, this is a benchmark"}
    )
    if "sms_twilio_account_sid" in env["res.company"]._fields:
        configure_odoo_twilio(env)
    env.cr.commit()
    return {
        "meta": {"whatsapp_config_id": whatsapp.id, "template_id": meta_template.id, "channel": "whatsapp"},
        "twilio": {"sms_config_id": twilio.id, "template_id": sms_template.id, "channel": "sms"},
        "infobip": {"sms_config_id": infobip.id, "template_id": sms_template.id, "channel": "sms"},
    }


def made(model, values):
    """The record of ``model`` named ``values["name"]`` written with ``values``, else a new one."""
    record = model.search([("name", "=", values["name"])], limit=1)
    if record:
        record.write({key: value for key, value in values.items() if key != "variable_ids"})
        return record
    return model.create(values)


def configure_odoo_twilio(env):
    """Odoo's own SMS sent through Twilio (``sms_twilio``), as its settings page does it."""
    company = env.company
    company.write(
        {
            "sms_provider": "twilio",
            "sms_twilio_account_sid": "ACbench000000000000000000000000000",
            "sms_twilio_auth_token": "bench-auth-token",
        }
    )
    if not company.sms_twilio_number_ids:
        env["sms.twilio.number"].create(
            {"company_id": company.id, "number": "+15005550006", "country_id": env.ref("base.be").id}
        )


def table_columns(cr, table):
    cr.execute(
        """SELECT column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = %s AND column_name != 'id'
            ORDER BY ordinal_position""",
        [table],
    )
    return [name for (name,) in cr.fetchall()]


def copy_columns(cr, table, alias, overrides):
    """(column list, select list) copying every column of ``table`` from ``alias`` but ``overrides``
    ({column: SQL expression}): a copy of a row the ORM made, whatever fields other modules add."""
    names = table_columns(cr, table)
    return ", ".join(f'"{name}"' for name in names), ", ".join(
        overrides.get(name, f'{alias}."{name}"') for name in names
    )


def create_contacts(env, count, campaign_id):
    """``count`` contacts, consenting to campaigns on both channels, linked to ``campaign_id``, in
    one SQL statement (a million ORM creates would take an hour): copies of one contact the ORM
    made (its partner, its row, its consent records), each with a number of its own."""
    template = env["contact.centre.contact"].create(
        {
            "name": "Bench model contact",
            "whatsapp_number": f"+32{450000000 + campaign_id}",
            "opt_in_whatsapp": True,
            "opt_in_sms": True,
        }
    )
    env.flush_all()
    cr = env.cr
    partner_cols, partner_select = copy_columns(
        cr, "res_partner", "t", {"name": "'Contact ' || i", "complete_name": "'Contact ' || i"}
    )
    contact_cols, contact_select = copy_columns(
        cr,
        "contact_centre_contact",
        "t",
        {"partner_id": "p.id", "whatsapp_number": "'+32' || (460000000 + p.id)"},
    )
    consent_cols, consent_select = copy_columns(cr, "contact_centre_consent", "t", {"contact_id": "c.id"})
    cr.execute(
        f"""
        WITH partners AS (
            INSERT INTO res_partner ({partner_cols})
            SELECT {partner_select} FROM res_partner t, generate_series(1, %(count)s) AS i
             WHERE t.id = %(partner)s
            RETURNING id
        ), contacts AS (
            INSERT INTO contact_centre_contact ({contact_cols})
            SELECT {contact_select} FROM contact_centre_contact t, partners p WHERE t.id = %(contact)s
            RETURNING id
        ), consents AS (
            INSERT INTO contact_centre_consent ({consent_cols})
            SELECT {consent_select} FROM contact_centre_consent t, contacts c WHERE t.contact_id = %(contact)s
        )
        INSERT INTO contact_centre_campaign_contact_rel (campaign_id, contact_id) SELECT %(campaign)s, id FROM contacts
        """,
        {"count": count, "partner": template.partner_id.id, "contact": template.id, "campaign": campaign_id},
    )
    cr.execute("ANALYZE res_partner; ANALYZE contact_centre_contact; ANALYZE contact_centre_consent")
    env.invalidate_all()


def campaign(env, settings, provider, count):
    """A campaign of ``count`` new contacts through ``provider`` (its settings from ``configure``), scheduled."""
    values = dict(settings[provider])
    record = env["contact.centre.campaign"].create(
        {"name": f"Bench {provider} {count}", "use_quiet_hours": False, **values}
    )
    started = time.perf_counter()
    create_contacts(env, count, record.id)
    env.cr.commit()
    made = time.perf_counter() - started
    record.action_schedule()
    env.cr.commit()
    return {"campaign": record.id, "contacts": count, "contacts_seconds": round(made, 1), **prepare(env, record.id)}


def prepare(env, campaign_id):
    """Start the due campaign and prepare its audience (``_prepare_recipients``), timed."""
    Campaign = env["contact.centre.campaign"]
    Campaign._start_due()
    env.cr.commit()
    record = Campaign.browse(campaign_id)
    env.invalidate_all()
    started = time.perf_counter()
    record._prepare_recipients()
    env.cr.commit()
    seconds = time.perf_counter() - started
    states = dict(
        env["contact.centre.campaign.recipient"]._read_group(
            [("campaign_id", "=", campaign_id)], ["state"], ["__count"]
        )
    )
    return {"prepare_seconds": round(seconds, 2), "prepared": states}


STATISTICS_FIELDS = [
    "recipient_count",
    "excluded_count",
    "sent_count",
    "delivered_count",
    "read_count",
    "failed_count",
    "review_count",
    "unconfirmed_count",
    "replied_count",
    "opted_out_count",
    "enrolled_count",
    "delivered_rate",
    "read_rate",
    "replied_rate",
    "progress",
    "pricing_summary",
]


def form_specification(env):
    """What the web client asks ``web_read`` for when it opens the campaign form."""
    fields = env["contact.centre.campaign"].get_views([(False, "form")])["models"]["contact.centre.campaign"]["fields"]
    spec = {}
    for name, description in fields.items():
        if description["type"] == "many2one":
            spec[name] = {"fields": {"display_name": {}}}
        elif description["type"] in ("one2many", "many2many"):
            spec[name] = {"fields": {"display_name": {}}, "limit": 40}
        else:
            spec[name] = {}
    return spec


def read_statistics(db, addons_path, campaign_id):
    """Time a read of the campaign form's statistics as admin, every half second until SIGTERM,
    each in a new transaction as each browser request is, with the wall-clock time it began (the
    benchmark keeps those made while the dispatch ran); then, once, the whole form's ``web_read``
    and its audience count. Returns the timings (ms)."""
    env = environment(db, addons_path)
    import odoo  # noqa: PLC0415 - on the path once environment() ran

    registry = env.registry
    admin = env.ref("base.user_admin").id
    spec = form_specification(env)
    env.cr.close()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

    def timed(work):
        with registry.cursor() as cr:
            record = odoo.api.Environment(cr, admin, {})["contact.centre.campaign"].browse(campaign_id)
            began, started = time.time(), time.perf_counter()
            work(record)
            return began, round((time.perf_counter() - started) * 1000, 1)

    reads = []
    while not stopping:
        reads.append(timed(lambda record: record.read(STATISTICS_FIELDS)))
        time.sleep(0.5)
    return {
        "statistics": reads,
        "form_ms": timed(lambda record: record.web_read(spec))[1],
        "audience_count_ms": timed(lambda record: record.read(["audience_count"]))[1],
    }


def odoo_sms(env, simulator_url, count):
    """Odoo's own SMS queue: ``count`` outgoing ``sms.sms`` sent by ``sms.sms._process_queue`` (the
    SMS cron's method, called until the queue is empty) through the unmodified ``sms_twilio``,
    whose Twilio host is pointed at the simulator in this process only."""
    point_sms_twilio_at(simulator_url)
    Sms, ids = env["sms.sms"], []
    for start in range(0, count, 5000):
        ids += Sms.create(
            [
                {"number": f"+32{470000000 + i}", "body": f"Hello Contact {i}, this is a benchmark"}
                for i in range(start, min(count, start + 5000))
            ]
        ).ids
    env.cr.commit()
    domain = [("state", "=", "outgoing"), ("to_delete", "!=", True)]
    started = time.perf_counter()
    while Sms.search_count(domain):
        Sms._process_queue()  # commits through ir.cron._commit_progress, as the cron does
    seconds = time.perf_counter() - started
    states = dict(Sms._read_group([("id", "in", ids)], ["state"], ["__count"]))
    sent = states.get("sent", 0) + states.get("pending", 0)
    return {
        "sent": sent,
        "seconds": round(seconds, 2),
        "rate": round(sent / seconds, 1) if seconds else 0,
        "states": states,
    }


def point_sms_twilio_at(simulator_url):
    """``sms_twilio`` posts to ``https://api.twilio.com/...`` written in its code: give its module a
    ``requests`` whose sessions send that host's requests to the simulator instead. Nothing else
    of the addon changes (its one request at a time, its session, its auth, its answers)."""
    import types  # noqa: PLC0415

    import requests  # noqa: PLC0415

    from odoo.addons.sms_twilio.tools import sms_api  # noqa: PLC0415

    class SimulatorSession(requests.Session):
        def request(self, method, url, *args, **kwargs):
            return super().request(method, url.replace("https://api.twilio.com", simulator_url, 1), *args, **kwargs)

    sms_api.requests = types.SimpleNamespace(Session=SimulatorSession, exceptions=requests.exceptions)


def as_dispatch_cron(env, seconds):
    """``env`` as the dispatch cron's run gets it (``ir.cron._run_job``): its progress record and
    an end ``seconds`` from now, after which ``_commit_progress`` tells the dispatch time is up."""
    cron = env.ref("contact_centre.ir_cron_contact_centre_campaign_dispatch")
    cron, _progress = cron._add_progress()
    env.cr.commit()
    return env(context={**cron.env.context, "cron_id": cron.id, "cron_end_time": time.monotonic() + seconds})


@contextlib.contextmanager
def timed_sender_start():
    """Yields the list of the seconds each sender process took to say it was ready (its imports:
    Infobip's SDK takes seconds), filled as the dispatch waits for them."""
    from odoo.addons.contact_centre.tools.sending import ProcessSendPipeline  # noqa: PLC0415

    waits, wait_until_ready = [], ProcessSendPipeline._wait_until_ready

    def timed(pipeline):
        started = time.perf_counter()
        try:
            return wait_until_ready(pipeline)
        finally:
            waits.append(time.perf_counter() - started)

    ProcessSendPipeline._wait_until_ready = timed
    try:
        yield waits
    finally:
        ProcessSendPipeline._wait_until_ready = wait_until_ready


def run(env, limit=None):
    """Dispatch what is due, in one call of the dispatch cron's method (bounded to ``limit``
    seconds as the cron is, when given)."""
    Campaign = env["contact.centre.campaign"]
    Message = env["contact.centre.message"]
    before = Message.search_count([("campaign_id", "!=", False), ("status", "!=", "queued")])
    if limit:
        Campaign = as_dispatch_cron(env, limit)["contact.centre.campaign"]
    env.cr.execute("SELECT pg_backend_pid()")
    backend = env.cr.fetchone()[0]

    def cpu_now():
        """CPU seconds of this process, of its sender process (a child, waited for at the end of
        the run) and of PostgreSQL serving the run's connection (not its bookings')."""
        return rusage_seconds(resource.RUSAGE_SELF), rusage_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(backend)

    cpu = cpu_now()
    began, started = time.time(), time.perf_counter()
    with timed_sender_start() as sender_start:
        Campaign._process_dispatch()
    env.cr.commit()
    seconds = time.perf_counter() - started
    from odoo.addons.contact_centre.tools.sending import end_parked  # noqa: PLC0415

    end_parked()  # the sender process, kept for a next run, ends: its CPU is then the children's
    cpu = [after - before for before, after in zip(cpu, cpu_now(), strict=True)]
    sent = Message.search_count([("campaign_id", "!=", False), ("status", "!=", "queued")]) - before
    peak_mb = peak_rss_mb()
    states = dict(env["contact.centre.campaign.recipient"]._read_group([], ["state"], ["__count"]))
    print(
        json.dumps(
            {
                "sent": sent,
                "seconds": round(seconds, 2),
                "rate": round(sent / seconds, 1) if seconds else 0,
                "peak_rss_mb": round(peak_mb, 1),
                "states": states,
                "began": began,
                "ended": began + seconds,
                "cpu": dict(zip(("odoo", "sender", "postgres"), cpu, strict=True)),
                "sender_start_seconds": round(sum(sender_start), 2),
            }
        ),
        flush=True,
    )


def main():
    db, addons_path, command, *args = sys.argv[1:]
    if command == "stats":
        print(json.dumps(read_statistics(db, addons_path, int(args[0]))), flush=True)
        return
    env = environment(db, addons_path)
    try:
        if command == "setup":
            rate = int(args[2]) if len(args) > 2 else 2000
            setup(env, args[0], int(args[1]), rate)
        elif command == "configure":
            print(json.dumps(configure(env, args[0], int(args[1]))), flush=True)
        elif command == "campaign":
            settings, provider, count = json.loads(args[0]), args[1], int(args[2])
            print(json.dumps(campaign(env, settings, provider, count)), flush=True)
        elif command == "odoo_sms":
            print(json.dumps(odoo_sms(env, args[0], int(args[1]))), flush=True)
        else:
            run(env, float(args[0]) if args else None)
    finally:
        env.cr.close()


if __name__ == "__main__":
    main()
