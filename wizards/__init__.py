from . import contact_centre_composer
from . import contact_centre_consent_wizard
from . import contact_centre_campaign_schedule
