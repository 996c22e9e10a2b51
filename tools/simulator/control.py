"""Client of the simulator's control API, for tests, benchmarks and the demo."""

import requests


def configure(base_url, **settings):
    """Merge ``settings`` into the simulator's (see ``server`` for the keys); returns them."""
    return requests.post(f"{base_url}/_sim/config", json=settings, timeout=10).json()


def reset(base_url):
    requests.post(f"{base_url}/_sim/reset", timeout=10).raise_for_status()


def sent_messages(base_url, timeout=30):
    """Every message the simulator accepted since the last reset, in order (a benchmark's hundreds
    of thousands take longer than the default ``timeout``)."""
    return requests.get(f"{base_url}/_sim/messages", timeout=timeout).json()["messages"]


def post_inbound(base_url, **spec):
    """Have the simulator post a correctly signed inbound message (``provider``, ``url``, ``from``, ``text``...)."""
    return requests.post(f"{base_url}/_sim/inbound", json=spec, timeout=60).json()


def read_receipts(base_url):
    """Every WhatsApp "mark as read" the simulator received since the last reset, in order."""
    return requests.get(f"{base_url}/_sim/read_receipts", timeout=30).json()["read_receipts"]


def set_phone_number(base_url, **spec):
    """Change a Meta number's ``quality_rating``/``messaging_limit_tier`` (``phone_number_id``) and have the
    simulator post the signed ``phone_number_quality_update`` webhook (to ``url``, signed with ``app_secret``)."""
    return requests.post(f"{base_url}/_sim/phone_number", json=spec, timeout=60).json()


def seed_flows(base_url, waba_id, flows):
    """Make ``flows`` (``[{"id", "name", "status", "categories"}]``) the WhatsApp Flows the simulator
    lists for the business account ``waba_id``; answers their ids."""
    return requests.post(f"{base_url}/_sim/flows", json={"waba_id": waba_id, "flows": flows}, timeout=10).json()["ids"]
