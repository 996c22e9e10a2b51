import time

import psycopg2.errors

from odoo import api, models
from odoo.tools import SQL

TALLY_TABLE = "contact_centre_campaign_tally"

# What is counted: (kind, table, counted column, rows that count).
TALLIES = (
    ("state", "contact_centre_campaign_recipient", "state", "TRUE"),
    ("status", "contact_centre_message", "status", "campaign_id IS NOT NULL AND direction = 'outbound'"),
)

# Past this many rows, a campaign's tally is folded into one row per key.
FOLD_ABOVE = 64
FOLD_EVERY = 1.0  # seconds between two folds by one process (``_fold_now_and_then``)
_last_fold = {"at": 0.0}


class ContactCentreCampaignTally(models.AbstractModel):
    """Running counts of each campaign's recipients by state and outbound messages by status, kept
    by PostgreSQL itself: the campaign form sums a few dozen rows, not a million.

    A statement-level trigger on each counted table appends, per statement, one row per (campaign,
    key) it changed, with the signed difference. The table is append-only, so two dispatchers, a
    dispatcher and the status callbacks never wait on one another's counter; ``_fold`` folds a
    campaign's rows into one per key now and then. A plain table (no ORM model): it has no id to
    run out of, and nothing but these triggers and ``_fold`` writes it."""

    _name = "contact.centre.campaign.tally"
    _description = "Campaign Tally"

    def init(self):
        cr = self.env.cr
        cr.execute("SELECT to_regclass(%s)", [TALLY_TABLE])
        created = cr.fetchone()[0] is None
        cr.execute(
            SQL(
                """CREATE TABLE IF NOT EXISTS %(table)s (
                       campaign_id integer NOT NULL, kind varchar NOT NULL, key varchar, count bigint NOT NULL);
                   CREATE INDEX IF NOT EXISTS %(index)s ON %(table)s (campaign_id)""",
                table=SQL.identifier(TALLY_TABLE),
                index=SQL.identifier(f"{TALLY_TABLE}_campaign_idx"),
            )
        )
        for kind, table, column, counted in TALLIES:
            self._install_trigger(kind, table, column, counted)
        if created:
            self._count_existing()

    def _install_trigger(self, kind, table, column, counted):
        """One function and three statement-level triggers (insert, update, delete) on ``table``."""
        function = SQL.identifier(f"{TALLY_TABLE}_{kind}")

        def delta(source, sign):
            return SQL(
                "SELECT campaign_id, %(column)s AS key, %(sign)s AS n FROM %(source)s WHERE %(counted)s",
                column=SQL.identifier(column),
                sign=SQL(sign),
                source=SQL(source),
                counted=SQL(counted),
            )

        def append(*deltas):
            return SQL(
                """INSERT INTO %(table)s (campaign_id, kind, key, count)
                   SELECT campaign_id, %(kind)s, key, SUM(n) FROM (%(deltas)s) AS delta
                    GROUP BY campaign_id, key HAVING SUM(n) <> 0;""",
                table=SQL.identifier(TALLY_TABLE),
                kind=kind,
                deltas=SQL(" UNION ALL ").join(deltas),
            )

        self.env.cr.execute(
            SQL(
                """CREATE OR REPLACE FUNCTION %(function)s() RETURNS trigger LANGUAGE plpgsql AS $tally$
                   BEGIN
                       IF TG_OP = 'INSERT' THEN %(inserted)s
                       ELSIF TG_OP = 'UPDATE' THEN %(updated)s
                       ELSE %(deleted)s
                       END IF;
                       RETURN NULL;
                   END $tally$""",
                function=function,
                inserted=append(delta("new_rows", "1")),
                updated=append(delta("new_rows", "1"), delta("old_rows", "-1")),
                deleted=append(delta("old_rows", "-1")),
            )
        )
        for operation, transitions in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            trigger = SQL.identifier(f"{TALLY_TABLE}_{kind}_{operation.lower()}")
            self.env.cr.execute(
                SQL(
                    """DROP TRIGGER IF EXISTS %(trigger)s ON %(table)s;
                       CREATE TRIGGER %(trigger)s AFTER %(operation)s ON %(table)s
                       REFERENCING %(transitions)s FOR EACH STATEMENT EXECUTE FUNCTION %(function)s()""",
                    trigger=trigger,
                    table=SQL.identifier(table),
                    operation=SQL(operation),
                    transitions=SQL(transitions),
                    function=function,
                )
            )

    def _count_existing(self):
        """The counts of the rows that were there before the triggers (an upgrade)."""
        for kind, table, column, counted in TALLIES:
            self.env.cr.execute(
                SQL(
                    """INSERT INTO %(tally)s (campaign_id, kind, key, count)
                       SELECT campaign_id, %(kind)s, %(column)s, COUNT(*) FROM %(table)s
                        WHERE %(counted)s GROUP BY campaign_id, %(column)s""",
                    tally=SQL.identifier(TALLY_TABLE),
                    kind=kind,
                    column=SQL.identifier(column),
                    table=SQL.identifier(table),
                    counted=SQL(counted),
                )
            )

    @api.model
    def _drop(self):
        """What ``init`` made outside the ORM (the module's uninstall hook)."""
        self.env.cr.execute(SQL("DROP TABLE IF EXISTS %s", SQL.identifier(TALLY_TABLE)))
        for kind, _table, _column, _counted in TALLIES:
            function = SQL.identifier(f"{TALLY_TABLE}_{kind}")
            self.env.cr.execute(SQL("DROP FUNCTION IF EXISTS %s() CASCADE", function))

    @api.model
    def _counts(self, campaign_ids):
        """{campaign id: {kind: {key: count}}}, as of this transaction."""
        for model in ("contact.centre.campaign.recipient", "contact.centre.message"):
            self.env[model].flush_model()
        counts = {}
        if not campaign_ids:
            return counts
        rows = self.env.execute_query(
            SQL(
                """SELECT campaign_id, kind, key, SUM(count) FROM %s
                    WHERE campaign_id IN %s GROUP BY campaign_id, kind, key HAVING SUM(count) <> 0""",
                SQL.identifier(TALLY_TABLE),
                tuple(campaign_ids),
            )
        )
        for campaign_id, kind, key, count in rows:
            counts.setdefault(campaign_id, {}).setdefault(kind, {})[key] = int(count)
        return counts

    @api.model
    def _fold_now_and_then(self):
        """``_fold``, at most once a second per process: the dispatch commits many times a second."""
        if time.monotonic() - _last_fold["at"] >= FOLD_EVERY:
            _last_fold["at"] = time.monotonic()
            self._fold()

    @api.model
    def _fold(self):
        """Fold the tallies of the campaigns with many rows into one row per key, and drop those
        of deleted campaigns. One process at a time (an advisory lock); given up, not waited for,
        when another transaction folded the same rows since this one's snapshot."""
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        """WITH locked AS (SELECT pg_try_advisory_xact_lock(hashtext(%(table_name)s)) AS ok),
                           busy AS (SELECT campaign_id FROM %(table)s, locked WHERE locked.ok
                                     GROUP BY campaign_id
                                    HAVING COUNT(*) > %(above)s OR NOT EXISTS (
                                           SELECT 1 FROM contact_centre_campaign c WHERE c.id = campaign_id)),
                           folded AS (DELETE FROM %(table)s WHERE campaign_id IN (SELECT campaign_id FROM busy)
                                      RETURNING campaign_id, kind, key, count)
                           INSERT INTO %(table)s (campaign_id, kind, key, count)
                           SELECT campaign_id, kind, key, SUM(count) FROM folded
                            WHERE EXISTS (SELECT 1 FROM contact_centre_campaign c WHERE c.id = folded.campaign_id)
                            GROUP BY campaign_id, kind, key HAVING SUM(count) <> 0""",
                        table_name=TALLY_TABLE,
                        table=SQL.identifier(TALLY_TABLE),
                        above=FOLD_ABOVE,
                    ),
                    log_exceptions=False,
                )
        except psycopg2.errors.SerializationFailure:
            pass
