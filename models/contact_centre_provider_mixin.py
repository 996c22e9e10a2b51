import time
from contextlib import contextmanager
from contextvars import ContextVar

import psycopg2

from odoo import api, fields, models, modules, sql_db, tools
from odoo.tools import SQL

from ..tools.providers import ProviderError, make_provider
from ..tools.sending import booking_rate, pace

UNCONFIRMED_POLICIES = [("review", "Flag for a person"), ("resend", "Send again")]
# The connection a sending run books its send times on (``_bookings_connection``), else None.
BOOKINGS = ContextVar("contact_centre_bookings", default=None)


class ContactCentreProviderMixin(models.AbstractModel):
    """What every provider configuration does the same way around its Odoo-free client."""

    _name = "contact.centre.provider.mixin"
    _description = "Contact Centre Provider Configuration"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    unconfirmed_wait = fields.Integer(
        "Wait for the Provider (minutes)",
        default=15,
        help="How long a message whose send answer was lost (its process stopped) waits for the provider's "
        "callback before the policy below decides.",
    )
    unconfirmed_policy = fields.Selection(
        UNCONFIRMED_POLICIES,
        "Then",
        required=True,
        default="review",
        help="Flag for a person: it waits in Unconfirmed Messages for someone to send it again or mark it as "
        "not sent. Send again: it is queued again, at the risk of a second copy when the provider had it.",
    )
    paced_until = fields.Float(readonly=True, copy=False, help="Technical: booked until (epoch seconds).")

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()
        return super().create(vals_list)

    def write(self, vals):
        self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()
        return super().unlink()

    def _get_provider(self):
        """The Odoo-free client of this configuration, with its secrets."""
        self.ensure_one()
        return make_provider(*self._cached_provider_settings())

    @tools.ormcache("self._name", "self.id")
    def _cached_provider_settings(self):
        """(provider name, client settings), read once per process and kept until a configuration
        changes: every webhook builds a client to verify its signature, and this spares it a query."""
        config = self.sudo()
        return config._provider_name(), config._provider_settings()

    def _provider_settings(self):
        """Keyword arguments of the provider client class (secrets included)."""
        raise NotImplementedError

    def _provider_name(self):
        raise NotImplementedError

    def _message_config_field(self):
        """The field of ``contact.centre.message`` that points at this kind of configuration."""
        raise NotImplementedError

    def _status_callback_url(self):
        """Where the provider posts delivery reports of a message, when it is told per message."""
        return

    def _reserve_send_times(self, count):
        """Monotonic times at which to send ``count`` messages so that every process sending
        through this configuration keeps to ``rate_limit`` messages per second in total.

        The reservation is one row update (a generic cell rate: the time the configuration is
        booked until, on the database's clock), so two workers or two hosts share the limit. It is
        committed at once in its own transaction, read committed: the row lock is held for a moment
        only, and neither the caller's older snapshot nor another process's booking of the same
        moment makes the update fail. Times are booked at ``booking_rate``, a little under the
        limit: a message may leave up to ``LATE_TOLERANCE`` after its time (later, the pipeline
        books it again through this method)."""
        self.ensure_one()
        rate = booking_rate(self.rate_limit)
        booking = SQL(
            """UPDATE %s
                  SET paced_until = GREATEST(COALESCE(paced_until, 0), EXTRACT(EPOCH FROM clock_timestamp()))
                                    + %s::float / %s
                WHERE id = %s
            RETURNING paced_until - %s::float / %s - EXTRACT(EPOCH FROM clock_timestamp())""",
            SQL.identifier(self._table),
            count,
            rate,
            self.id,
            count,
            rate,
        )
        # The delay counts from the database's clock as it answered (after any wait for another
        # booking): from the moment the answer is read, not after the commit, or two processes'
        # reservations would overlap by the time their commits took.
        if modules.module.current_test:  # a test's data is not committed: no other transaction sees it
            [(delay,)] = self.env.execute_query(booking)
            answered = time.monotonic()
        else:
            with self._bookings_connection() as connection, connection.cursor() as cr:
                cr.execute(booking.code, booking.params)
                [(delay,)] = cr.fetchall()
                answered = time.monotonic()
        return pace(answered + max(0.0, delay), count, rate)

    @api.model
    @contextmanager
    def _bookings_connection(self):
        """The connection send times are booked on (``_reserve_send_times``): the sending run's,
        held while it runs, else one for this booking. Autocommit: each booking is its own
        transaction, one round trip (a cursor of Odoo's pool costs five: the pool resets the
        connection, then BEGIN, the statement, COMMIT), never on a stale snapshot. Read committed:
        waiting for another process's booking of the same row, the update then applies to what that
        one committed (repeatable read, Odoo's level, would fail). None in tests."""
        if modules.module.current_test or BOOKINGS.get() is not None:
            yield BOOKINGS.get()
            return
        _dbname, info = sql_db.connection_info_for(self.env.cr.dbname)
        connection = psycopg2.connect(**info)
        try:
            connection.autocommit = True
            with connection.cursor() as cr:
                cr.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")
            token = BOOKINGS.set(connection)
            try:
                yield connection
            finally:
                BOOKINGS.reset(token)
        finally:
            connection.close()

    def _download_media(self, media, max_bytes):
        """(content, mime type, file name) of an inbound media reference."""
        self.ensure_one()
        provider = self._get_provider()
        if not hasattr(provider, "download_media"):
            raise ProviderError("config", self.env._("This provider does not give access to media."))
        return provider.download_media(media.ref, max_bytes=max_bytes)
