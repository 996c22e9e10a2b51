def migrate(cr, version):
    """Provider message ids became unique per account (configuration), not per provider: the old
    index would still refuse a genuine collision between two accounts. The opt-in flags are saved
    for post-migrate, which records them as consent events."""
    cr.execute("DROP INDEX IF EXISTS contact_centre_message_external_message_uniq")
    save_opt_in_flags(cr)


def save_opt_in_flags(cr):
    """The opt-in flags become computed from consent events at this upgrade, and the update
    recomputes them before post-migrate runs: keep what they said, for post-migrate to record."""
    cr.execute(
        """CREATE TABLE IF NOT EXISTS contact_centre_upgrade_opt_in AS
           SELECT id, opt_in_whatsapp, opt_in_whatsapp_date, opt_in_whatsapp_source,
                  opt_in_sms, opt_in_sms_date, opt_in_sms_source
             FROM contact_centre_contact"""
    )
