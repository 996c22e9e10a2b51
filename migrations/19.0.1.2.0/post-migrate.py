def migrate(cr, version):
    """The dispatch cron runs every minute, so that a campaign resumes within a minute of a
    restart (its record is noupdate: an upgrade would keep the earlier 5 minutes). Recipients and
    messages handed over by the earlier version and never answered carry no run token: the next
    dispatch run finds them without a live sender and makes them unconfirmed, for the provider's
    callbacks to settle."""
    cr.execute(
        """UPDATE ir_cron SET interval_number = 1, interval_type = 'minutes'
            WHERE id = (SELECT res_id FROM ir_model_data
                         WHERE module = 'contact_centre' AND name = 'ir_cron_contact_centre_campaign_dispatch')"""
    )
