"""Take the README's screenshots: log in to a running product (scripts/run.sh), open the inbox in
headless Chromium, open a conversation and save a PNG; or open another page, click and wait.

    python scripts/screenshot_inbox.py [--url http://127.0.0.1:8069] [--out static/description/inbox.png]
    python scripts/screenshot_inbox.py --login agent --password agent --view mine --out agent_day.png
    python scripts/screenshot_inbox.py --page /odoo/action-contact_centre.contact_centre_campaign_action/1 \
        --click 'button[name=action_confirm_schedule]' --wait .modal-dialog --out supervisor_day.png

Uses Chromium's DevTools protocol through websocket-client (the test suite's dependency).
"""

import argparse
import base64
import json
import subprocess
import tempfile
import time
from itertools import count

import requests
import websocket


class DevTools:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.ids = count(1)

    def call(self, method, **params):
        request_id = next(self.ids)
        self.ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == request_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def wait_for(self, selector, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.call("Runtime.evaluate", expression=f"!!document.querySelector({json.dumps(selector)})")
            if found["result"].get("value"):
                return
            time.sleep(0.2)
        raise TimeoutError(f"{selector} did not appear")

    def click(self, selector):
        self.call("Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)}).click()")


def session_cookie(url, db, login, password):
    session = requests.Session()
    response = session.post(
        f"{url}/web/session/authenticate",
        json={"jsonrpc": "2.0", "params": {"db": db, "login": login, "password": password}},
        timeout=30,
    )
    response.raise_for_status()
    if response.json().get("error"):
        raise SystemExit(f"login refused: {response.json()['error']['data']['message']}")
    return session.cookies["session_id"]


def start_chromium(port, width, height):
    profile = tempfile.mkdtemp(prefix="cc-chromium-")
    process = subprocess.Popen(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--remote-debugging-port={port}",
            f"--window-size={width},{height}",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            pages = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json()
            page = next(p for p in pages if p["type"] == "page")
            return process, page["webSocketDebuggerUrl"]
        except (requests.RequestException, StopIteration):
            time.sleep(0.1)
    process.kill()
    raise SystemExit("Chromium did not start")


def show_inbox(tools, args):
    tools.call("Page.navigate", url=f"{args.url}/odoo/contact-centre-inbox")
    tools.wait_for(f".o_cc_view_{args.view}")
    tools.click(f".o_cc_view_{args.view}")
    time.sleep(1)
    conversation = f".o_cc_conversation[data-contact-name^={json.dumps(args.contact)}]"
    tools.wait_for(conversation)
    tools.click(conversation)
    tools.wait_for(".o_cc_contact_panel")


def show_page(tools, args):
    tools.call("Page.navigate", url=f"{args.url}{args.page}")
    if args.click:
        tools.wait_for(args.click)
        time.sleep(1)
        tools.click(args.click)
    tools.wait_for(args.wait)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--db", default="contact_centre_demo")
    parser.add_argument("--login", default="supervisor")
    parser.add_argument("--password", default="supervisor")
    parser.add_argument("--contact", default="Emma", help="open the conversation of this contact")
    parser.add_argument("--out", default="static/description/inbox.png")
    parser.add_argument("--view", default="all", choices=["mine", "unassigned", "all", "resolved"])
    parser.add_argument("--page", help="another page to take instead of the inbox (a path)")
    parser.add_argument("--click", help="on --page: a selector to click once it has loaded")
    parser.add_argument("--wait", default=".o_content", help="on --page: the selector to wait for before the shot")
    parser.add_argument("--port", type=int, default=9333)
    args = parser.parse_args()

    cookie = session_cookie(args.url, args.db, args.login, args.password)
    process, ws_url = start_chromium(args.port, 1440, 860)
    try:
        tools = DevTools(ws_url)
        tools.call("Network.enable")
        tools.call("Network.setCookie", name="session_id", value=cookie, url=args.url)
        if args.page:
            show_page(tools, args)
        else:
            show_inbox(tools, args)
        time.sleep(1.5)
        shot = tools.call("Page.captureScreenshot", format="png")
        with open(args.out, "wb") as file:
            file.write(base64.b64decode(shot["data"]))
        print(f"saved {args.out}")
    finally:
        process.kill()


if __name__ == "__main__":
    main()
