"""The product deployed the way production runs it (deploy/stack.py): nginx in front, ending TLS and
routing /websocket to the gevent workers, of Odoo hosts run with --workers 2 --max-cron-threads 1
--proxy-mode, on one database. Every test runs against one host, then against two hosts (two
processes with their own workers and crons, as two machines); the campaign tests need two.

- the inbox is live through nginx: a websocket client subscribed through nginx receives the bus
  notification of an inbound message the simulator posts, and so does the inbox in Chromium;
- each provider's webhooks, signed for the public https:// URL, are accepted (and Twilio's signed
  for another URL are not: Odoo validates the URL the proxy tells it);
- a campaign is sent once to each recipient while the other host's cron ingests its callbacks; a
  host killed with SIGKILL mid-campaign, the other host finishes it.
"""

import importlib.util
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests
import websocket
from common import ADDON_DIR, ODOO_PATH, addons_path, free_port, odoo_command, sql
from twilio.request_validator import RequestValidator

from deploy.stack import Stack
from tools import sending

WA_NUMBER_ID = "100000000000001"
WA_SECRET = "prod-app-secret"
TWILIO_SID, TWILIO_TOKEN = "ACprod0000000000000000000000000001", "prod-twilio-token"
CAMPAIGN_NUMBER_ID = "100000000000555"
CAMPAIGN_SECRET = "prod-campaign-secret"
BUS_VERSION = "19.0-2"  # bus.websocket.WebsocketConnectionHandler._VERSION


def wait_for(check, timeout, what, interval=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s")


class Client:
    """A user's browser session through nginx (JSON-RPC as the web client does it)."""

    def __init__(self, stack, login="admin", password="admin"):
        self.stack = stack
        self.session = requests.Session()
        self.session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would override verify
        self.session.verify = stack.ca
        answer = self.session.post(
            f"{stack.url}/web/session/authenticate",
            json={"jsonrpc": "2.0", "params": {"db": stack.db, "login": login, "password": password}},
            timeout=60,
        ).json()
        assert "error" not in answer, answer
        self.session_id = self.session.cookies["session_id"]

    def call(self, model, method, *args, **kwargs):
        answer = self.session.post(
            f"{self.stack.url}/web/dataset/call_kw",
            json={"jsonrpc": "2.0", "params": {"model": model, "method": method, "args": list(args), "kwargs": kwargs}},
            timeout=120,
        ).json()
        if "error" in answer:
            raise RuntimeError(answer["error"]["data"]["message"])
        return answer["result"]


def drop_database(db):
    subprocess.run(["dropdb", "--if-exists", "--force", db], check=False, capture_output=True)


@pytest.fixture(scope="module")
def database():
    """One throwaway database for both modes, with Odoo's data folder (filestore, sessions) that
    the hosts share as deployed hosts share a volume."""
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        pytest.skip("nginx is not installed (scripts/bootstrap.sh installs Debian's nginx)")
    db = f"cc_production_{os.getpid()}"
    paths = addons_path()
    data_dir = tempfile.mkdtemp(prefix="cc-prod-data-")
    install = odoo_command(db, paths, "-i", "contact_centre", "--stop-after-init", "--log-level=warn")
    try:
        drop_database(db)
        subprocess.run([*install, "--data-dir", data_dir], check=True)
        yield db, paths, data_dir
    finally:
        drop_database(db)
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(paths.rsplit(",", 1)[-1], ignore_errors=True)


@pytest.fixture(scope="module", params=[1, 2], ids=["one host", "two hosts"])
def stack(request, database):
    db, paths, data_dir = database
    stack = Stack(db, paths, hosts=request.param, data_dir=data_dir)
    try:
        stack.start()
        stack.simulator_url = stack.start_simulator(meta_app_secret=WA_SECRET)
        admin = Client(stack)
        stack.configs = provider_configs(admin, stack.simulator_url)
        yield stack
    finally:
        stack.stop()


def provider_configs(admin, simulator_url):
    """A WhatsApp number, a Twilio and an Infobip account (made once, by the admin, over RPC)."""
    whatsapp = admin.call("contact.centre.whatsapp.config", "search", [["phone_number_id", "=", WA_NUMBER_ID]])
    if not whatsapp:
        admin.call(
            "contact.centre.whatsapp.config",
            "create",
            {
                "name": "Production WhatsApp",
                "account_id": "waba-prod",
                "phone_number_id": WA_NUMBER_ID,
                "access_token": "token",
                "app_secret": WA_SECRET,
                "verify_token": "prod-verify",
                "api_base_url": simulator_url,
            },
        )
    configs = {}
    for provider, values in (
        ("twilio", {"twilio_account_sid": TWILIO_SID, "twilio_auth_token": TWILIO_TOKEN, "sender": "+15005550006"}),
        ("infobip", {"infobip_api_key": "prod-infobip-key", "sender": "ACME"}),
    ):
        found = admin.call("contact.centre.sms.config", "search", [["name", "=", f"Production {provider}"]])
        config_id = (
            found[0]
            if found
            else admin.call(
                "contact.centre.sms.config",
                "create",
                {"name": f"Production {provider}", "provider": provider, "api_base_url": simulator_url, **values},
            )
        )
        [configs[provider]] = admin.call("contact.centre.sms.config", "read", [config_id], ["webhook_url"])
    return configs


def message_ids(admin, external_ids):
    return admin.call(
        "contact.centre.message", "search_read", [["external_message_id", "in", external_ids]], ["external_message_id"]
    )


def post_inbound(stack, **spec):
    answer = requests.post(f"{stack.simulator_url}/_sim/inbound", json=spec, timeout=60).json()
    return answer


def meta_inbound(stack, text, sender=None, name="Simulated Customer"):
    return post_inbound(
        stack,
        provider="meta",
        url=f"{stack.url}/contact_centre/webhook/whatsapp",
        phone_number_id=WA_NUMBER_ID,
        app_secret=WA_SECRET,
        profile_name=name,
        **{"from": sender or f"+32479{uuid.uuid4().int % 10**6:06d}", "text": text},
    )


def test_public_url_is_https_and_webhook_urls_follow_it(stack):
    """Behind the proxy Odoo sees the public https:// URL: the admin's login records it as the base
    URL, and the webhook URLs shown to copy into the providers' consoles are built on it."""
    admin = Client(stack)
    assert admin.call("ir.config_parameter", "get_param", "web.base.url") == stack.url
    twilio_config = stack.configs["twilio"]
    assert twilio_config["webhook_url"] == f"{stack.url}/contact_centre/webhook/twilio/{twilio_config['id']}"
    assert stack.configs["infobip"]["webhook_url"].startswith(f"{stack.url}/contact_centre/webhook/infobip/")
    if len(stack.hosts) > 1:
        # One session, requests spread over both hosts: the sessions (in the shared data folder) follow.
        for _ in range(6):
            assert admin.call("res.users", "read", [2], ["login"])[0]["login"] == "admin"
        wait_for(
            lambda: (
                {
                    line.rsplit(":", 1)[-1]
                    for line in stack.nginx.access_lines()
                    if "POST /web/dataset/call_kw" in line and '" 200 ' in line
                }
                >= {str(host.http_port) for host in stack.hosts}
            ),
            10,
            "calls served by every host",
        )


def test_websocket_through_nginx_receives_the_inbound_message(stack):
    """A browser-like websocket client, subscribed through nginx, gets the inbox's bus notification
    of an inbound message posted by the simulator (through nginx too)."""
    admin = Client(stack)
    ws_url = f"wss://127.0.0.1:{stack.port}/websocket?version={BUS_VERSION}"
    connection = websocket.create_connection(
        ws_url, cookie=f"session_id={admin.session_id}", origin=stack.url, sslopt={"ca_certs": stack.ca}, timeout=5
    )
    try:
        connection.send(json.dumps({"event_name": "subscribe", "data": {"channels": [], "last": 0}}))
        time.sleep(1)  # the subscription is handled asynchronously by the gevent worker
        text = f"Live through nginx {uuid.uuid4().hex[:8]}"
        answer = meta_inbound(stack, text)
        assert answer["status"] == 200, answer
        deadline, received = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            try:
                frame = connection.recv()
            except websocket.WebSocketTimeoutException:
                continue
            for notification in json.loads(frame):
                message = notification.get("message", {})
                if message.get("type") == "contact_centre/thread":
                    received.append(message["payload"])
            if any(text in (payload.get("last_message_preview") or "") for payload in received):
                break
        else:
            raise AssertionError(f"no contact_centre/thread notification with {text!r}: {received}")
    finally:
        connection.close()
    gevent_ports = {str(host.gevent_port) for host in stack.hosts}
    # nginx logs the websocket once it is closed (and writes its log every second).
    upgrades = wait_for(
        lambda: [line for line in stack.nginx.access_lines() if "GET /websocket?" in line and '" 101 ' in line],
        10,
        "the websocket in nginx's access log",
    )
    assert {re.search(r"upstream=127\.0\.0\.1:(\d+)", line).group(1) for line in upgrades} <= gevent_ports


def test_webhooks_signed_for_the_public_url_are_accepted(stack):
    """Meta, Twilio and Infobip post to the public https:// URL (the simulator signs it, or puts
    the token in it, and posts it through nginx): all answered 200 and ingested."""
    admin = Client(stack)
    twilio_url, infobip_url = stack.configs["twilio"]["webhook_url"], stack.configs["infobip"]["webhook_url"]
    answers = {
        "meta": meta_inbound(stack, "Meta through nginx"),
        "twilio": post_inbound(
            stack,
            provider="twilio",
            url=twilio_url,
            auth_token=TWILIO_TOKEN,
            account_sid=TWILIO_SID,
            text="Twilio through nginx",
            **{"from": "+32470555001"},
        ),
        "infobip": post_inbound(
            stack, provider="infobip", url=infobip_url, text="Infobip through nginx", **{"from": "+32470555002"}
        ),
    }
    assert {provider: answer["status"] for provider, answer in answers.items()} == dict.fromkeys(answers, 200), answers
    ids = [answer["id"] for answer in answers.values()]
    wait_for(lambda: len(message_ids(admin, ids)) == len(ids), 90, "the three inbound messages ingested")
    # Infobip's token is the secret of its URL: nginx's access log masks it, as Odoo's log does.
    token = infobip_url.rsplit("/", 1)[-1]
    logged = "\n".join(stack.nginx.access_lines())
    assert token not in logged
    assert f"POST /contact_centre/webhook/infobip/{stack.configs['infobip']['id']}/*** " in logged


def test_twilio_signature_is_checked_against_the_url_the_proxy_reports(stack):
    """Twilio signs the public URL, which Odoo knows only through the proxy's X-Forwarded-* headers:
    signed for the public host name (another Host than this machine's) it is accepted through nginx;
    signed for http:// instead of https://, or sent around nginx to Odoo's own port, it is not."""
    config = stack.configs["twilio"]
    path = f"/contact_centre/webhook/twilio/{config['id']}"

    def form():
        return {
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "AccountSid": TWILIO_SID,
            "From": "+32470555003",
            "To": "+15005550006",
            "Body": "signed for the public host",
            "NumMedia": "0",
            "SmsStatus": "received",
        }

    def post(base, signed_url, host=None, **kwargs):
        data = form()
        headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(signed_url, data)}
        if host:
            headers["Host"] = host
        return requests.post(base + path, data=data, headers=headers, timeout=30, **kwargs).status_code

    public = "contact-centre.example.com"
    assert post(stack.url, f"https://{public}{path}", host=public, verify=stack.ca) == 200
    assert post(stack.url, f"http://{public}{path}", host=public, verify=stack.ca) == 403
    # Straight to an Odoo host, without the proxy's headers: Odoo sees http://127.0.0.1:<its port>.
    assert post(stack.hosts[0].url, f"{stack.url}{path}") == 403


def test_inbox_is_live_in_chromium_through_nginx(stack):
    """The inbox in headless Chromium, through nginx: a new customer's conversation appears in the
    list without reloading, pushed through the websocket nginx routes to a gevent worker."""
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap.sh installs it)")
    spec = importlib.util.spec_from_file_location(
        "screenshot_inbox", os.path.join(ADDON_DIR, "scripts", "screenshot_inbox.py")
    )
    screenshot_inbox = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshot_inbox)
    admin = Client(stack)
    port, profile = free_port(), tempfile.mkdtemp(prefix="cc-prod-chromium-")
    browser = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors"]
        + [f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "--window-size=1280,800", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        page = wait_for(
            lambda: (
                next(
                    (
                        p
                        for p in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                        if p["type"] == "page"
                    ),
                    None,
                )
                if _answers(f"http://127.0.0.1:{port}/json/version")
                else None
            ),
            60,
            "Chromium's DevTools",
        )
        tools = screenshot_inbox.DevTools(page["webSocketDebuggerUrl"])
        tools.call("Network.enable")
        tools.call("Network.setCookie", name="session_id", value=admin.session_id, url=stack.url, secure=True)
        tools.call("Page.navigate", url=f"{stack.url}/odoo/contact-centre-inbox")
        tools.wait_for(".o_cc_view_all", timeout=90)
        tools.click(".o_cc_view_all")
        tools.wait_for(".o_cc_view_all.btn-primary", timeout=30)
        time.sleep(2)  # the bus worker's websocket is opened and subscribed once the client is up
        name = f"Chromium Nginx {uuid.uuid4().hex[:6]}"
        assert meta_inbound(stack, "Is the inbox live?", name=name)["status"] == 200
        tools.wait_for(f'.o_cc_conversation[data-contact-name="{name}"]', timeout=60)
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


def _answers(url):
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


# Campaigns, two hosts


def schedule_campaign(stack, name, count, first, rate_limit):
    """A WhatsApp template campaign to ``count`` new contacts (numbers from ``first``), scheduled:
    set up as the superuser in ``odoo-bin shell`` (what an import and a supervisor do), scheduling
    wakes the dispatch cron of whichever host takes it."""
    odoo_shell(
        stack,
        f"""
Config = env["contact.centre.whatsapp.config"]
config = Config.search([("phone_number_id", "=", "{CAMPAIGN_NUMBER_ID}")]) or Config.create({{
    "name": "Campaigns", "account_id": "waba-campaigns", "phone_number_id": "{CAMPAIGN_NUMBER_ID}",
    "access_token": "token", "app_secret": "{CAMPAIGN_SECRET}", "api_base_url": "{stack.simulator_url}"}})
config.write({{"rate_limit": {rate_limit}, "api_base_url": "{stack.simulator_url}"}})  # this stack's simulator
Template = env["contact.centre.template"]
template = Template.search([("whatsapp_config_id", "=", config.id)], limit=1) or Template.create({{
    "name": "Campaign", "channel": "whatsapp", "whatsapp_config_id": config.id, "meta_template_name": "campaign",
    "approval_status": "approved", "body_text": "Hello {{{{1}}}}",
    "variable_ids": [(0, 0, {{"placeholder": "1", "field_name": "name"}})]}})
contacts = env["contact.centre.contact"].create([
    {{"name": f"Customer {{i}}", "whatsapp_number": f"+32471{{i:06d}}", "opt_in_whatsapp": True}}
    for i in range({first}, {first + count})])
campaign = env["contact.centre.campaign"].create({{
    "name": "{name}", "channel": "whatsapp", "template_id": template.id, "whatsapp_config_id": config.id,
    "use_quiet_hours": False, "contact_ids": [(6, 0, contacts.ids)]}})
env.cr.commit()
campaign.action_schedule()
""",
    )
    [(campaign_id,)] = sql(stack.db, "SELECT id FROM contact_centre_campaign WHERE name = %s", (name,))
    return campaign_id


def odoo_shell(stack, code):
    """Run ``code`` in ``odoo-bin shell`` on the stack's database and data folder, committed."""
    command = [sys.executable, f"{ODOO_PATH}/odoo-bin", "shell", "-d", stack.db, f"--addons-path={stack.addons_path}"]
    command += ["--no-http", "--data-dir", stack.data_dir]
    subprocess.run(command, input=f"{code}\nenv.cr.commit()\n", text=True, check=True, stdout=subprocess.DEVNULL)


def campaign_state(db, campaign_id):
    [(state,)] = sql(db, "SELECT state FROM contact_centre_campaign WHERE id = %s", (campaign_id,))
    recipients = dict(
        sql(
            db,
            "SELECT state, count(*) FROM contact_centre_campaign_recipient WHERE campaign_id = %s GROUP BY state",
            (campaign_id,),
        )
    )
    return state, recipients


def busiest_window(stack, first, count, seconds):
    """The most messages of this campaign the provider received in any window of ``seconds``."""
    numbers = {f"32471{i:06d}" for i in range(first, first + count)}
    moments = [
        message["at"]
        for message in requests.get(f"{stack.simulator_url}/_sim/messages", timeout=60).json()["messages"]
        if message.get("to", "").lstrip("+") in numbers
    ]
    return sending.busiest_window(moments, seconds)


def received(stack, first, count):
    """The simulator's messages to this campaign's numbers: {number: times}."""
    numbers = {f"32471{i:06d}" for i in range(first, first + count)}
    times = {}
    for message in requests.get(f"{stack.simulator_url}/_sim/messages", timeout=60).json()["messages"]:
        to = message.get("to", "").lstrip("+")
        if to in numbers:
            times[to] = times.get(to, 0) + 1
    return times


IN_DOUBT = ("review", "unconfirmed")
DISPATCH_JOB = "'Contact Centre: dispatch campaigns'"
INGEST_JOB = "'Contact Centre: ingest webhook events'"


def hosts_running(stack, job, since):
    """Indexes of the hosts whose log shows ``job`` starting after character ``since[index]``."""
    pattern = re.compile(rf"Job {re.escape(job)} \(\d+\) starting")
    return {index for index, host in enumerate(stack.hosts) if pattern.search(host.log()[since[index] :])}


def hosts_in_job(stack, job):
    """Indexes of the hosts running ``job`` now: their last line about it says it is starting."""
    pattern = re.compile(rf"Job {re.escape(job)} \(\d+\) (\w+)")
    return {
        index
        for index, host in enumerate(stack.hosts)
        if host.alive() and (found := pattern.findall(host.log())) and found[-1] == "starting"
    }


def errors(stack):
    """The first ERROR lines of each host's log (for the message of a failed check)."""
    return {
        index: [line[:300] for line in host.log().splitlines() if " ERROR " in line][:3]
        for index, host in enumerate(stack.hosts)
    }


def log_sizes(stack):
    return [len(host.log()) for host in stack.hosts]


def prepare_simulator_for_campaigns(stack):
    # One delivered callback per message, signed with the campaign number's secret, through nginx.
    requests.post(
        f"{stack.simulator_url}/_sim/config",
        json={"statuses": ["delivered"], "meta_app_secret": CAMPAIGN_SECRET, "latency_ms": 20},
        timeout=10,
    ).raise_for_status()


@pytest.mark.parametrize("stack", [1], indirect=True, ids=["one host"])
def test_a_campaign_longer_than_a_cron_job_goes_on_at_once(stack):
    """Odoo's cron gives the dispatch ten seconds a job, then reschedules the job at once but wakes
    no cron worker for it: with no callback coming in to wake them, the next job waited for the
    worker's minute poll (twice in a 20,000-recipient campaign: 157 s instead of 33). The call that
    used the job's time up wakes them."""
    control = f"{stack.simulator_url}/_sim/config"
    requests.post(control, json={"callbacks": False, "latency_ms": 20}, timeout=10).raise_for_status()
    try:
        count, first = 3000, 20000
        campaign_id = schedule_campaign(stack, "Longer than a job", count, first, rate_limit=200)
        wait_for(lambda: campaign_state(stack.db, campaign_id)[0] == "done", 240, "the campaign done")
    finally:
        requests.post(control, json={"callbacks": True}, timeout=10).raise_for_status()
    numbers = {f"32471{i:06d}" for i in range(first, first + count)}
    moments = sorted(
        message["at"]
        for message in requests.get(f"{stack.simulator_url}/_sim/messages", timeout=60).json()["messages"]
        if message.get("to", "").lstrip("+") in numbers
    )
    assert len(moments) == count
    assert moments[-1] - moments[0] > 12, "at 200 messages/s the campaign outlasts a cron job of ten seconds"
    pause = max(later - earlier for earlier, later in itertools.pairwise(moments))
    assert pause < 20, f"the dispatch stopped {pause:.0f} s between two cron jobs"


@pytest.mark.parametrize("stack", [2], indirect=True, ids=["two hosts"])  # a campaign needs two
def test_campaign_sent_once_by_one_host_while_the_other_ingests(stack):
    """Two hosts, one cron worker each: the one that takes the dispatch job sends the campaign
    (each recipient once); meanwhile its delivery callbacks, posted through nginx, are ingested by
    the other host's cron worker (the first one's is busy)."""
    prepare_simulator_for_campaigns(stack)
    count, first = 1500, 0
    since = log_sizes(stack)
    campaign_id = schedule_campaign(stack, "Two hosts", count, first, rate_limit=150)
    wait_for(lambda: campaign_state(stack.db, campaign_id)[0] == "done", 240, "the campaign done")
    _state, recipients = campaign_state(stack.db, campaign_id)
    assert recipients == {"sent": count}, f"no host stopped, yet {recipients}; the hosts' errors: {errors(stack)}"
    times = received(stack, first, count)
    assert len(times) == count and max(times.values()) == 1, "a recipient got the message twice, or none"
    # The rate limit is booked in the database: a total over both hosts (two hosts each keeping a
    # limit of their own would send twice as many). The simulator stamps each message when its
    # request arrives, read by a thread of a busy machine: one-second windows of the stamps jitter
    # (by 10-17% when the stamps were taken after the simulated latency, measured on a quiet
    # machine), which a three-second window divides by three.
    busiest = busiest_window(stack, first, count, 3)
    assert busiest <= 3 * 150 * 1.1, (
        f"the number's rate limit is a total over both hosts: {busiest} in 3 s, "
        f"{busiest_window(stack, first, count, 1)} in 1 s"
    )
    dispatchers = hosts_running(stack, DISPATCH_JOB, since)
    assert len(dispatchers) >= 1
    ingesters = hosts_running(stack, INGEST_JOB, since)
    print(f"two hosts: {count} sent once each; dispatched by host(s) {dispatchers}, ingested by {ingesters}")
    assert ingesters - dispatchers or len(dispatchers) == 2, (
        f"the callbacks were not ingested by the host that was not dispatching: {dispatchers=} {ingesters=}"
    )


@pytest.mark.parametrize("stack", [2], indirect=True, ids=["two hosts"])  # a campaign needs two
def test_host_killed_mid_campaign_the_other_finishes_it(stack):
    """The host running the dispatch is killed with SIGKILL (master, workers, gevent: a machine
    lost) in the middle of a campaign; the other host's cron takes the job and finishes it: nobody
    gets the message twice, every recipient ends sent or in doubt (to review), and the survivor sent
    the rest."""
    prepare_simulator_for_campaigns(stack)
    count, first = 2500, 10000
    since = log_sizes(stack)
    campaign_id = schedule_campaign(stack, "Host killed", count, first, rate_limit=100)
    wait_for(lambda: len(received(stack, first, count)) >= 300, 180, "the dispatch started")
    # The host running the dispatch job now, else the one that ran it last: a job runs 10 s at a
    # time, and between two runs either host's cron may take it next.
    dispatchers = wait_for(lambda: hosts_running(stack, DISPATCH_JOB, since), 30, "a dispatching host in its log")
    victim = min(hosts_in_job(stack, DISPATCH_JOB) or dispatchers)
    stack.kill_host(victim)
    at_kill = len(received(stack, first, count))
    assert at_kill < count, "the kill must land in the middle of the campaign"
    survivor = 1 - victim
    since_kill = log_sizes(stack)

    wait_for(lambda: campaign_state(stack.db, campaign_id)[0] == "done", 300, "the campaign done by the survivor")
    _state, recipients = campaign_state(stack.db, campaign_id)
    # Sent, or in doubt: to review, or (where the product has that state) awaiting the provider's
    # confirmation, which its callbacks or the configuration's wait settle later.
    assert set(recipients) <= {"sent", *IN_DOUBT}, recipients
    assert sum(recipients.values()) == count
    in_doubt = sum(recipients.get(state, 0) for state in IN_DOUBT)
    times = received(stack, first, count)
    assert max(times.values()) == 1, "a recipient got the message twice"
    assert recipients["sent"] <= len(times) <= recipients["sent"] + in_doubt
    assert len(times) > at_kill, "the surviving host sent the rest"
    assert hosts_running(stack, DISPATCH_JOB, since_kill) == {survivor}
    print(
        f"host {victim} killed after {at_kill} messages; host {survivor} finished: {recipients}, "
        f"{len(times)} received, none twice"
    )
    # The survivor still serves everything through nginx.
    assert requests.get(f"{stack.url}/web/health", timeout=30, verify=stack.ca).status_code == 200
