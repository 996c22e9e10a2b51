from odoo import models


class ContactCentreCompanyMixin(models.AbstractModel):
    """Company consistency (``_check_company_auto``, set by each model) that names no record its
    user may not read.

    Odoo's ``_check_company`` explains an inconsistency with the names of the records of the other
    company, read as superuser: by RPC, company B's supervisor setting ids one after the other as a
    campaign's test contact would read A's contacts' names in the errors. Records the user may not
    read are refused first, as any unreadable record is (by id, names only to technical users)."""

    _name = "contact.centre.company.mixin"
    _description = "Contact Centre Company Consistency"

    def _check_company(self, fnames=None):
        if not self.env.su:
            for linked in self._company_checked_records(fnames):
                linked.with_env(self.env).check_access("read")
        return super()._check_company(fnames)

    def _company_checked_records(self, fnames):
        """The records of ``self``'s company-checked fields among ``fnames``, as ``_check_company``
        reads them (all fields when the company changes)."""
        if fnames is None or {"company_id", "company_ids"} & set(fnames):
            fnames = self._fields
        for name in fnames:
            field = self._fields[name]
            if field.relational and field.check_company and not field.company_dependent:
                yield self.sudo()[name]
