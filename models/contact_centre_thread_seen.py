from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.providers.receipts import send_read_receipts_later

# Meta accepts read receipts of messages received in the last 30 days.
READ_RECEIPT_MAX_AGE = timedelta(days=30)


class ContactCentreThreadSeen(models.Model):
    """How far one user has read one conversation: unread counts are per user (a supervisor
    looking at a conversation does not clear its agent's unread messages)."""

    _name = "contact.centre.thread.seen"
    _description = "Conversation Read Marker"

    thread_id = fields.Many2one("contact.centre.thread", required=True, ondelete="cascade")
    user_id = fields.Many2one("res.users", required=True, ondelete="cascade")
    seen_message_id = fields.Integer("Last Message Seen", help="Messages of the conversation up to this id are read.")

    _thread_user_uniq = models.Constraint("UNIQUE(thread_id, user_id)", "One read marker per user and conversation.")

    @api.model
    def _mark_seen(self, threads, user):
        """``user`` has read ``threads`` up to their latest message (one statement, concurrent-safe)."""
        if not threads:
            return
        self.env["contact.centre.message"].flush_model(["thread_id"])
        self.env.cr.execute(
            SQL(
                """INSERT INTO contact_centre_thread_seen
                          (thread_id, user_id, seen_message_id, create_uid, write_uid, create_date, write_date)
                   SELECT thread.id, %(user)s, COALESCE(MAX(message.id), 0), %(user)s, %(user)s,
                          now() at time zone 'UTC', now() at time zone 'UTC'
                     FROM contact_centre_thread thread
                LEFT JOIN contact_centre_message message ON message.thread_id = thread.id
                    WHERE thread.id IN %(threads)s
                 GROUP BY thread.id
              ON CONFLICT (thread_id, user_id) DO UPDATE
                      SET seen_message_id = GREATEST(contact_centre_thread_seen.seen_message_id,
                                                     EXCLUDED.seen_message_id),
                          write_date = EXCLUDED.write_date""",
                user=user.id,
                threads=tuple(threads.ids),
            )
        )
        self.invalidate_model()
        self.env["contact.centre.thread"].invalidate_model(["unread_count", "unread_through_id"])
        self.env["contact.centre.contact"].invalidate_model(["unread_count"])
        self._queue_read_receipts(threads)

    @api.model
    def _queue_read_receipts(self, threads):
        """Tell WhatsApp that the customer's latest message of each of ``threads`` was read (the
        customer sees blue ticks): once per message (the conversation remembers the last one marked,
        claimed in this transaction), after the commit and off the request (never waiting for Meta).
        *Settings > Send WhatsApp Read Receipts* turns it off."""
        enabled = self.env["ir.config_parameter"].sudo().get_param("contact_centre.whatsapp_read_receipts")
        if not enabled or not threads:
            return
        self.env["contact.centre.message"].flush_model(
            ["thread_id", "direction", "channel", "provider", "external_message_id", "whatsapp_config_id"]
        )
        self.env["contact.centre.thread"].flush_model(["read_receipt_message_id"])
        rows = self.env.execute_query(
            SQL(
                """WITH latest AS (
                       SELECT DISTINCT ON (message.thread_id)
                              message.thread_id, message.id, message.whatsapp_config_id, message.external_message_id
                         FROM contact_centre_message message
                        WHERE message.thread_id IN %(threads)s AND message.direction = 'inbound'
                          AND message.channel = 'whatsapp' AND message.provider = 'meta'
                          AND message.external_message_id IS NOT NULL AND message.whatsapp_config_id IS NOT NULL
                          AND message.message_timestamp >= %(since)s
                     ORDER BY message.thread_id, message.message_timestamp DESC, message.id DESC)
                   UPDATE contact_centre_thread thread
                      SET read_receipt_message_id = latest.id
                     FROM latest
                    WHERE thread.id = latest.thread_id
                      AND thread.read_receipt_message_id IS DISTINCT FROM latest.id
                RETURNING latest.whatsapp_config_id, latest.external_message_id""",
                threads=tuple(threads.ids),
                since=fields.Datetime.now() - READ_RECEIPT_MAX_AGE,
            )
        )
        self.env["contact.centre.thread"].invalidate_model(["read_receipt_message_id"])
        configs = self.env["contact.centre.whatsapp.config"].sudo().browse({config_id for config_id, _wamid in rows})
        providers = {config.id: config._get_provider() for config in configs.exists() if config.active}
        receipts = [(providers[config_id], wamid) for config_id, wamid in rows if config_id in providers]
        if receipts:
            self.env.cr.postcommit.add(lambda: send_read_receipts_later(receipts))

    @api.model
    def _unread(self, threads, user):
        """{thread id: (count, through)} for ``threads``, in one query: ``count`` inbound messages
        ``user`` has not read, and ``through`` the newest inbound message id that count accounts for
        (read or counted). The inbox adds an announced message to a badge only above ``through``: a
        page opened just after a burst gets the burst's notifications replayed by the bus, which
        the count it read already includes."""
        if not threads.ids:
            return {}
        self.env["contact.centre.message"].flush_model(["thread_id", "direction"])
        self.flush_model()
        rows = self.env.execute_query(
            SQL(
                """SELECT thread.id, COUNT(message.id),
                          GREATEST(MAX(message.id), COALESCE(seen.seen_message_id, 0))
                     FROM unnest(%(threads)s) AS thread(id)
                LEFT JOIN contact_centre_thread_seen seen
                       ON seen.thread_id = thread.id AND seen.user_id = %(user)s
                LEFT JOIN contact_centre_message message
                       ON message.thread_id = thread.id AND message.direction = 'inbound'
                      AND message.id > COALESCE(seen.seen_message_id, 0)
                 GROUP BY thread.id, seen.seen_message_id""",
                user=user.id,
                threads=list(threads.ids),
            )
        )
        return {thread_id: (count, through) for thread_id, count, through in rows}

    @api.model
    def _unread_thread_query(self, user):
        """SQL of the ids of the conversations with inbound messages ``user`` has not read."""
        return SQL(
            """SELECT message.thread_id
                 FROM contact_centre_message message
            LEFT JOIN contact_centre_thread_seen seen
                   ON seen.thread_id = message.thread_id AND seen.user_id = %s
                WHERE message.direction = 'inbound' AND message.id > COALESCE(seen.seen_message_id, 0)""",
            user.id,
        )
