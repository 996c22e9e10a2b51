from . import controllers
from . import models
from . import wizards


def uninstall_hook(env):
    env["contact.centre.campaign.tally"]._drop()
