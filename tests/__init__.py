from . import test_foundation
from . import test_webhooks
from . import test_sending
from . import test_inbound_rules
from . import test_campaign
from . import test_inbox
from . import test_inbox_tour
from . import test_security
