"""Shared plumbing of the benchmarks that need a running Odoo: a throwaway database with the
addon installed, an Odoo server process, JSON-RPC calls, and latency statistics."""

import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo")
ADDON_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def addons_path():
    """An addons path where this checkout is named contact_centre."""
    folder = tempfile.mkdtemp(prefix="cc-bench-addons-")
    os.symlink(ADDON_DIR, os.path.join(folder, "contact_centre"))
    return f"{ODOO_PATH}/addons,{ODOO_PATH}/odoo/addons,{folder}"


def odoo_command(db, paths, *args):
    return [
        sys.executable,
        f"{ODOO_PATH}/odoo-bin",
        "-d",
        db,
        f"--addons-path={paths}",
        "--db-filter",
        f"^{db}$",
        *args,
    ]


def create_database(db, paths, modules="contact_centre"):
    """A new ``db`` with ``modules`` (comma-separated) installed."""
    subprocess.run(["dropdb", "--if-exists", db], check=True)
    subprocess.run(odoo_command(db, paths, "-i", modules, "--stop-after-init", "--log-level=warn"), check=True)


def drop_database(db):
    subprocess.run(["dropdb", "--if-exists", db], check=False)


def start_odoo(db, paths, port, *args, process_group=False):
    """Odoo serving ``db`` on ``port``; with ``process_group``, in a group of its own, so that
    ``os.killpg`` kills it whole (master and workers), as a host dies."""
    process = subprocess.Popen(
        odoo_command(
            db,
            paths,
            "--http-port",
            str(port),
            "--gevent-port",
            str(free_port()),
            "--http-interface",
            "127.0.0.1",
            "--log-level=warn",
            *args,
        ),
        stdout=subprocess.DEVNULL,
        start_new_session=process_group,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(f"{url}/web/health", timeout=2).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("Odoo did not start")


def odoo_shell(db, paths, code):
    """Run Python ``code`` in ``odoo-bin shell`` on ``db`` (``env`` is the superuser's, committed
    at the end): set-up that no user may do over RPC, such as storing messages as if received."""
    command = [sys.executable, f"{ODOO_PATH}/odoo-bin", "shell", "-d", db, f"--addons-path={paths}", "--no-http"]
    subprocess.run(command, input=f"{code}\nenv.cr.commit()\n", text=True, check=True, stdout=subprocess.DEVNULL)


def rpc(url, db, model, method, *args, **kwargs):
    """``execute_kw`` as admin over JSON-RPC."""
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "params": {
            "service": "object",
            "method": "execute_kw",
            "args": [db, 2, "admin", model, method, list(args), kwargs],
        },
    }
    answer = requests.post(f"{url}/jsonrpc", json=payload, timeout=600).json()
    if "error" in answer:
        raise RuntimeError(answer["error"]["data"]["message"])
    return answer["result"]


def percentiles(latencies):
    ordered = sorted(latencies)
    if not ordered:
        return 0.0, 0.0
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return statistics.median(ordered) * 1000, p95 * 1000


def cpu_seconds(pid):
    """CPU seconds (user and system) process ``pid`` of this host has used so far (``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rusage_seconds(who):
    """CPU seconds (user and system) of ``resource.getrusage(who)``."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb():
    """Peak resident memory of this process in MB (``VmHWM``). Not ``getrusage``'s ``ru_maxrss``:
    across ``exec`` Linux keeps the larger of the two, so a process started by a bench that
    imported Infobip's SDK would report the bench's own peak."""
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kb / 1024


def start_simulator(latency_ms=0):
    """The provider simulator in its own process (it must not share the measured process's
    interpreter lock), without status callbacks; returns (process, base URL)."""
    port = free_port()
    command = [sys.executable, "-m", "tools.simulator", "--port", str(port), "--quiet", "--no-callbacks"]
    process = subprocess.Popen([*command, "--latency-ms", str(latency_ms)], cwd=ADDON_DIR)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/_sim/health", timeout=1)
            return process, url
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the simulator did not start")


def sql(db, query, params=()):
    """Rows of ``query`` run straight on ``db`` (as this OS user, through the socket): for what RPC
    cannot give, such as timestamps to the microsecond (Odoo's ``Datetime`` reads drop them)."""
    import psycopg2  # noqa: PLC0415 - only the benchmarks that read the database need it

    with psycopg2.connect(dbname=db) as connection, connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall() if cursor.description else []
    connection.close()
    return rows
