def migrate(cr, version):
    """Provider message ids became unique per account (configuration), not per provider: the old
    index would still refuse a genuine collision between two accounts."""
    cr.execute("DROP INDEX IF EXISTS contact_centre_message_external_message_uniq")
