from . import contact_centre_composer
