# Odoo-free core of contact_centre: provider clients, webhook parsing and pure rules.
# Nothing under this package may import odoo: plain pytest runs it (tests/unit).
