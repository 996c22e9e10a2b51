"""The inbox's server calls with 100,000 contacts and 1,000,000 messages in the database.

    python bench/bench_inbox.py [--contacts 100000] [--messages-per-contact 10] [--repeat 20]

Fills a throwaway database with bulk SQL (not the ORM), then times, as an agent and as a
supervisor, the calls the inbox makes: list conversations, search by name and by number, open a
conversation and page back in it. Prints p50/p95 in milliseconds.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import addons_path, create_database, drop_database  # noqa: E402
from dispatch_worker import environment  # noqa: E402

FILL = """
INSERT INTO res_partner (id, name, complete_name, active, type, create_date, write_date)
SELECT 1000000 + i, 'Contact ' || i, 'Contact ' || i, true, 'contact', now(), now()
  FROM generate_series(1, %(contacts)s) AS i;
INSERT INTO contact_centre_contact (id, partner_id, whatsapp_number, sender_kind, preferred_channel, opt_in_whatsapp,
                                    opt_in_sms, assigned_agent_id, last_message_date, create_date, write_date)
SELECT 1000000 + i, 1000000 + i, '+32470' || lpad(i::text, 6, '0'), 'phone', 'whatsapp', true, true,
       CASE WHEN i %% 3 = 0 THEN NULL WHEN i %% 3 = 1 THEN %(agent)s ELSE %(other)s END,
       now() - (i || ' seconds')::interval, now(), now()
  FROM generate_series(1, %(contacts)s) AS i;
INSERT INTO contact_centre_thread (id, contact_id, channel, state, assigned_agent_id, last_message_date,
                                   last_message_preview, create_date, write_date)
SELECT 1000000 + i, 1000000 + i, 'whatsapp', CASE WHEN i %% 5 = 0 THEN 'resolved' ELSE 'open' END,
       CASE WHEN i %% 3 = 0 THEN NULL WHEN i %% 3 = 1 THEN %(agent)s ELSE %(other)s END,
       now() - (i || ' seconds')::interval, 'message ' || i, now(), now()
  FROM generate_series(1, %(contacts)s) AS i;
INSERT INTO contact_centre_message (contact_id, thread_id, channel, direction, message_type, status, body_text,
                                    provider, external_message_id, assigned_agent_id, message_timestamp,
                                    create_date, write_date)
SELECT 1000000 + c, 1000000 + c, 'whatsapp', CASE WHEN m %% 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'text',
       CASE WHEN m %% 2 = 0 THEN 'received' ELSE 'read' END, 'message ' || m || ' of ' || c, 'meta',
       'wamid.BENCH' || c || '.' || m,
       CASE WHEN c %% 3 = 0 THEN NULL WHEN c %% 3 = 1 THEN %(agent)s ELSE %(other)s END,
       now() - ((c + m * 60) || ' seconds')::interval, now(), now()
  FROM generate_series(1, %(contacts)s) AS c, generate_series(1, %(per_contact)s) AS m;
"""


def timed(env, function, repeat):
    """p50 and p95 in ms of ``function``, the ORM cache cleared before each call."""
    durations = []
    for _ in range(repeat):
        env.invalidate_all()
        began = time.perf_counter()
        function()
        durations.append((time.perf_counter() - began) * 1000)
    durations.sort()
    return statistics.median(durations), durations[min(len(durations) - 1, int(len(durations) * 0.95))]


def measure(env, user, thread_id, repeat):
    Thread = env["contact.centre.thread"].with_user(user)
    page = Thread.browse(thread_id).inbox_messages(limit=5)
    calls = {
        "list: mine, first page": lambda: Thread.inbox_conversations(view="mine"),
        "list: all, page 50": lambda: Thread.inbox_conversations(view="all", offset=2000),
        "list: unassigned": lambda: Thread.inbox_conversations(view="unassigned"),
        "list: resolved": lambda: Thread.inbox_conversations(view="resolved"),
        "search: name": lambda: Thread.inbox_conversations(view="all", search="Contact 9999"),
        "search: number prefix": lambda: Thread.inbox_conversations(view="all", search="+32470 0999"),
        "thread: open (panel)": lambda: Thread.browse(thread_id).inbox_open(),
        "thread: open (last 40)": lambda: Thread.browse(thread_id).inbox_messages(),
        "thread: older page": lambda: Thread.browse(thread_id).inbox_messages(before_id=page[0]["id"]),
    }
    for name, function in calls.items():
        p50, p95 = timed(env, function, repeat)
        print(f"{user.name:17s} {name:24s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100000)
    parser.add_argument("--messages-per-contact", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    db, paths = f"cc_bench_inbox_{os.getpid()}", addons_path()
    create_database(db, paths)
    try:
        env = environment(db, paths)
        agent = env["res.users"].create(
            {
                "name": "Bench Agent",
                "login": "bench_agent",
                "group_ids": [(4, env.ref("contact_centre.group_contact_centre_agent").id)],
            }
        )
        other = env["res.users"].create(
            {
                "name": "Other Agent",
                "login": "other_agent",
                "group_ids": [(4, env.ref("contact_centre.group_contact_centre_agent").id)],
            }
        )
        supervisor = env["res.users"].create(
            {
                "name": "Bench Supervisor",
                "login": "bench_supervisor",
                "group_ids": [(4, env.ref("contact_centre.group_contact_centre_supervisor").id)],
            }
        )
        env.cr.commit()
        began = time.perf_counter()
        env.cr.execute(
            FILL,
            {"contacts": args.contacts, "per_contact": args.messages_per_contact, "agent": agent.id, "other": other.id},
        )
        for table in ("res_partner", "contact_centre_contact", "contact_centre_thread", "contact_centre_message"):
            env.cr.execute(f"ANALYZE {table}")
        env.cr.commit()
        env.cr.execute("SELECT count(*) FROM contact_centre_message")
        print(
            f"{args.contacts} contacts, {env.cr.fetchone()[0]} messages, filled in {time.perf_counter() - began:.0f} s; "
            f"{args.repeat} runs of each call, cache cleared before each",
            flush=True,
        )
        thread_id = 1000000 + 1  # an agent's conversation with 10 messages
        for user in (agent, supervisor):
            measure(env, user, thread_id, args.repeat)
        env.cr.rollback()
        env.cr.close()
        from odoo.sql_db import close_db  # noqa: PLC0415 - Odoo is on the path once environment() ran

        close_db(db)
    finally:
        drop_database(db)


if __name__ == "__main__":
    main()
