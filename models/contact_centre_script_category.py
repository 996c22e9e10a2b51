from odoo import fields, models


class ContactCentreScriptCategory(models.Model):
    _name = "contact.centre.script.category"
    _description = "Script Category"
    _order = "sequence, name"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    script_ids = fields.One2many("contact.centre.script", "category_id", "Scripts")

    _name_uniq = models.Constraint("UNIQUE(name)", "A script category with this name already exists.")
