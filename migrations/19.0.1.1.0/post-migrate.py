from odoo import SUPERUSER_ID, api

CONSENT_FIELDS = [
    f"{prefix}_{channel}{suffix}"
    for channel in ("whatsapp", "sms")
    for prefix, suffix in (("opt_in", ""), ("opt_in", "_date"), ("opt_in", "_source"), ("marketing", ""))
]


def migrate(cr, version):
    """Consent became a record per event (contact.centre.consent). The opt-in flags of the
    earlier version were what campaigns and replies relied on: each becomes an event of both
    purposes (source as recorded, 'manual' now 'agent', else 'import'), so nobody who opted out is
    messaged and nobody who was reachable is lost. Conversations made by campaigns before get the
    time and text of their latest message."""
    for channel in ("whatsapp", "sms"):
        cr.execute(
            f"""INSERT INTO contact_centre_consent
                       (contact_id, company_id, channel, purpose, state, source, date, note,
                        create_uid, write_uid, create_date, write_date)
                SELECT c.id, p.company_id, %s, purpose,
                       CASE WHEN old.opt_in_{channel} IS FALSE THEN 'revoked' ELSE 'granted' END,
                       CASE old.opt_in_{channel}_source WHEN 'manual' THEN 'agent'
                            WHEN 'keyword' THEN 'keyword' WHEN 'campaign' THEN 'campaign'
                            WHEN 'inbound' THEN 'inbound' ELSE 'import' END,
                       COALESCE(old.opt_in_{channel}_date, c.create_date, now() at time zone 'UTC'),
                       'Opt-in flag of the earlier version, recorded at the upgrade',
                       %s, %s, now() at time zone 'UTC', now() at time zone 'UTC'
                  FROM contact_centre_upgrade_opt_in old
                  JOIN contact_centre_contact c ON c.id = old.id
                  JOIN res_partner p ON p.id = c.partner_id
                 CROSS JOIN (VALUES ('service'), ('marketing')) AS purposes(purpose)
                 WHERE NOT EXISTS (SELECT 1 FROM contact_centre_consent e WHERE e.contact_id = c.id AND e.channel = %s)""",
            (channel, SUPERUSER_ID, SUPERUSER_ID, channel),
        )
    cr.execute("DROP TABLE contact_centre_upgrade_opt_in")
    cr.execute(
        """UPDATE contact_centre_thread t
              SET last_message_date = m.message_timestamp,
                  last_message_preview = COALESCE(NULLIF(left(regexp_replace(btrim(m.body_text), '\\n', ' ', 'g'), 80), ''),
                                                  '[Template]')
             FROM (SELECT DISTINCT ON (thread_id) thread_id, message_timestamp, body_text
                     FROM contact_centre_message
                    WHERE direction = 'outbound' AND campaign_id IS NOT NULL
                 ORDER BY thread_id, message_timestamp DESC, id DESC) m
            WHERE m.thread_id = t.id AND (t.last_message_date IS NULL OR t.last_message_date < m.message_timestamp)"""
    )
    env = api.Environment(cr, SUPERUSER_ID, {})
    Contact = env["contact.centre.contact"].with_context(active_test=False)
    contacts = Contact.search([])
    for name in CONSENT_FIELDS:
        env.add_to_compute(Contact._fields[name], contacts)
    env.flush_all()
