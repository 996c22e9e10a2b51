"""The product as a deployment runs it, on one machine: nginx in front, ending TLS, of one or more
Odoo hosts on one database, each with its HTTP workers, its gevent worker (websockets) and its cron
worker, started as production starts them (``ODOO_OPTIONS``).

    python -m deploy.stack --db DB --addons-path PATHS [--hosts 2] [--port 8069] [--workdir DIR]
                           [--simulator-port 8899] [--data-dir DIR]
    python -m deploy.stack --print-nginx-conf --server-name cc.example.com \\
        --odoo 10.0.0.11:8069 --odoo 10.0.0.12:8069 --websocket 10.0.0.11:8072 --websocket 10.0.0.12:8072

The first runs the stack until interrupted (``scripts/run.sh --production`` and ``--two-hosts``):
``https://127.0.0.1:PORT`` with a self-signed certificate made for localhost and 127.0.0.1 (kept in
the work folder; its path is printed, for clients to trust it). The second prints the nginx
configuration of a real deployment, from the same template (``deploy/nginx.conf``).

Every process is a child of this one, in its own process group (an Odoo host's master, workers
and gevent worker together, as one machine): ``Stack.kill_host`` kills one as a machine dies;
``Stack.stop`` stops everything, nothing is left behind. nginx runs in the foreground with its own
prefix (configuration, logs, temporary files in the work folder): no system configuration is read
or changed.
"""

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TEMPLATE = os.path.join(ROOT, "deploy", "nginx.conf")
ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo")

# How production runs each Odoo host (README, "Deploying"): prefork HTTP workers (and so a gevent
# worker for the websockets, on --gevent-port), one cron worker, and the X-Forwarded-* headers of
# the proxy trusted to rebuild the public URL.
ODOO_OPTIONS = ("--workers", "2", "--max-cron-threads", "1", "--proxy-mode")
# The cron jobs' start and end lines, in each host's log (which host ran what).
CRON_LOG = ("--log-handler", "odoo.addons.base.models.ir_cron:INFO")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_binary():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not found:
        raise SystemExit("nginx is not installed: run scripts/bootstrap.sh (it installs Debian's nginx)")
    return found


def render_nginx_conf(
    odoo_servers,
    websocket_servers,
    listen="443",
    server_name="_",
    certificate=None,
    certificate_key=None,
    access_log="/var/log/nginx/contact_centre.access.log",
):
    """deploy/nginx.conf with its placeholders filled: ``odoo_servers`` and ``websocket_servers``
    are "host:port" of every Odoo host's HTTP and gevent ports."""
    with open(TEMPLATE) as file:
        text = file.read()
    values = {
        "odoo_servers": "\n    ".join(f"server {server};" for server in odoo_servers),
        "websocket_servers": "\n    ".join(f"server {server};" for server in websocket_servers),
        "listen": listen,
        "server_name": server_name,
        "ssl_certificate": certificate or f"/etc/ssl/certs/{server_name}.pem",
        "ssl_certificate_key": certificate_key or f"/etc/ssl/private/{server_name}.key",
        "access_log": access_log,
    }
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def make_certificate(folder):
    """A self-signed certificate for localhost and 127.0.0.1 in ``folder`` (kept if already there):
    (certificate, key). Clients trust it by its path (``REQUESTS_CA_BUNDLE``, ``--cacert``)."""
    os.makedirs(folder, exist_ok=True)
    certificate, key = os.path.join(folder, "localhost.pem"), os.path.join(folder, "localhost.key")
    if not (os.path.exists(certificate) and os.path.exists(key)):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=localhost"]
            + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", certificate],
            check=True,
            capture_output=True,
        )
        os.chmod(key, 0o600)
    return certificate, key


def _wait_until(check, timeout, what, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not ready after {timeout} s")


def _stop_group(process, first_signal, grace):
    """Signal the process; after ``grace`` seconds (or once it is gone) kill whatever is left of
    its process group (the workers of an Odoo host, nginx's workers)."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            process.send_signal(first_signal)
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


class OdooHost:
    """One Odoo host as a machine runs it: master, HTTP workers, gevent worker, cron worker."""

    def __init__(self, stack, index):
        self.stack, self.index = stack, index
        self.http_port, self.gevent_port = free_port(), free_port()
        self.logfile = os.path.join(stack.workdir, f"odoo-host-{index}.log")
        self.process = None

    @property
    def url(self):
        """Straight to this host's HTTP workers, bypassing nginx (checks only)."""
        return f"http://127.0.0.1:{self.http_port}"

    def command(self):
        stack = self.stack
        command = [sys.executable, f"{ODOO_PATH}/odoo-bin", "-d", stack.db, "--db-filter", f"^{stack.db}$"]
        command += [f"--addons-path={stack.addons_path}", "--http-interface", "127.0.0.1"]
        command += ["--http-port", str(self.http_port), "--gevent-port", str(self.gevent_port), *ODOO_OPTIONS]
        if stack.data_dir:
            command += ["--data-dir", stack.data_dir]
        command += [*stack.odoo_args, "--log-level", stack.log_level, *CRON_LOG]
        return command + ["--logfile", self.logfile]

    def start(self):
        self.process = subprocess.Popen(
            self.command(), start_new_session=True, stdout=subprocess.DEVNULL, env=self.stack.odoo_env
        )

    def wait_ready(self, timeout=180):
        _wait_until(
            lambda: requests.get(f"{self.url}/web/health", timeout=2).status_code == 200,
            timeout,
            f"Odoo host {self.index} (HTTP port {self.http_port}, log {self.logfile})",
            self.process,
        )
        gevent = f"http://127.0.0.1:{self.gevent_port}/websocket/health"
        _wait_until(
            lambda: requests.get(gevent, timeout=2).status_code == 200,
            timeout,
            f"the gevent worker of Odoo host {self.index} (port {self.gevent_port})",
            self.process,
        )

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        """SIGKILL to the whole host at once (master, workers, gevent worker): a machine dying."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self):
        _stop_group(self.process, signal.SIGTERM, 20)

    def log(self):
        try:
            with open(self.logfile, errors="replace") as file:
                return file.read()
        except FileNotFoundError:
            return ""


class Nginx:
    """nginx in the foreground with its own prefix: the site configuration rendered from
    deploy/nginx.conf, wrapped in a main configuration that keeps everything in the prefix."""

    def __init__(self, stack):
        self.stack = stack
        self.prefix = os.path.join(stack.workdir, "nginx")
        self.process = None

    @property
    def access_log(self):
        return os.path.join(self.prefix, "access.log")

    def write_configuration(self):
        stack = self.stack
        os.makedirs(os.path.join(self.prefix, "temp"), exist_ok=True)
        site = render_nginx_conf(
            [f"127.0.0.1:{host.http_port}" for host in stack.hosts],
            [f"127.0.0.1:{host.gevent_port}" for host in stack.hosts],
            listen=f"127.0.0.1:{stack.port}",
            server_name="localhost",
            certificate=stack.certificate,
            certificate_key=stack.certificate_key,
            access_log=self.access_log,
        )
        with open(os.path.join(self.prefix, "contact_centre.conf"), "w") as file:
            file.write(site)
        temp = os.path.join(self.prefix, "temp")
        # Run by root, the workers would be "nobody", who may not enter the work folder: keep root.
        user = "user root;\n" if os.geteuid() == 0 else ""
        main = f"""# Generated by deploy/stack.py: the local wrapper of contact_centre.conf (deploy/nginx.conf).
daemon off;
worker_processes 2;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log warn;
{user}events {{
    worker_connections 1024;
}}
http {{
    access_log off;  # contact_centre.conf logs its requests to {self.access_log}
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {self.prefix}/contact_centre.conf;
}}
"""
        configuration = os.path.join(self.prefix, "nginx.conf")
        with open(configuration, "w") as file:
            file.write(main)
        return configuration

    def start(self):
        configuration = self.write_configuration()
        command = [nginx_binary(), "-p", self.prefix, "-c", configuration, "-e", os.path.join(self.prefix, "error.log")]
        subprocess.run([*command, "-t", "-q"], check=True)
        self.process = subprocess.Popen(command, start_new_session=True)

    def stop(self):
        _stop_group(self.process, signal.SIGQUIT, 10)

    def access_lines(self):
        try:
            with open(self.access_log, errors="replace") as file:
                return file.read().splitlines()
        except FileNotFoundError:
            return []


class Stack:
    """nginx on ``port`` (``https://127.0.0.1:port``) in front of ``hosts`` Odoo hosts on ``db``.

    ``data_dir`` is Odoo's (filestore and sessions): the hosts share it, as deployed hosts share a
    volume (None: Odoo's default, ``~/.local/share/Odoo``, shared too). ``workdir`` keeps nginx's
    prefix, the certificate and the hosts' logs (None: a temporary folder, removed by ``stop``).
    ``odoo_args`` are more options for every host (after ``ODOO_OPTIONS``).
    """

    def __init__(
        self, db, addons_path, hosts=1, port=None, workdir=None, data_dir=None, log_level="warn", odoo_args=()
    ):
        self.db, self.addons_path, self.log_level, self.odoo_args = db, addons_path, log_level, tuple(odoo_args)
        self.port = port or free_port()
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="cc-stack-")
        os.makedirs(self.workdir, exist_ok=True)
        self.data_dir = data_dir
        self.certificate, self.certificate_key = make_certificate(os.path.join(self.workdir, "tls"))
        self.hosts = [OdooHost(self, index) for index in range(hosts)]
        self.nginx = Nginx(self)
        self.simulator = None
        self.odoo_env = dict(os.environ)

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self):
        """The certificate to trust (``verify=stack.ca`` for requests)."""
        return self.certificate

    def start(self, timeout=180):
        try:
            for host in self.hosts:
                host.start()
            for host in self.hosts:
                host.wait_ready(timeout)
            self.nginx.start()
            _wait_until(
                lambda: requests.get(f"{self.url}/web/health", timeout=2, verify=self.ca).status_code == 200,
                30,
                f"nginx on port {self.port} (log {self.nginx.prefix}/error.log)",
                self.nginx.process,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def start_simulator(self, port=None, latency_ms=0, callbacks=True, quiet=True, meta_app_secret="demo-app-secret"):
        """The provider simulator, posting its signed callbacks to the public URL (through nginx,
        trusting the stack's certificate); returns its base URL."""
        port = port or free_port()
        command = [sys.executable, "-m", "tools.simulator", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--latency-ms", str(latency_ms), "--meta-app-secret", meta_app_secret]
        command += ["--meta-webhook-url", f"{self.url}/contact_centre/webhook/whatsapp"]
        command += ([] if callbacks else ["--no-callbacks"]) + (["--quiet"] if quiet else [])
        environment = dict(os.environ, REQUESTS_CA_BUNDLE=self.ca)
        self.simulator = subprocess.Popen(command, cwd=ROOT, env=environment, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        _wait_until(lambda: requests.get(f"{url}/_sim/health", timeout=1).ok, 30, "the simulator", self.simulator)
        return url

    def kill_host(self, index):
        self.hosts[index].kill()

    def stop(self):
        _stop_group(self.simulator, signal.SIGTERM, 5)
        self.nginx.stop()
        for host in self.hosts:
            host.stop()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db")
    parser.add_argument("--addons-path")
    parser.add_argument("--hosts", type=int, default=1, help="Odoo hosts behind nginx (default 1)")
    parser.add_argument("--port", type=int, default=8069, help="nginx's port (HTTPS)")
    parser.add_argument("--workdir", help="nginx's prefix, the certificate and the logs (default: a temporary one)")
    parser.add_argument("--data-dir", help="Odoo's data folder, shared by the hosts (default: Odoo's)")
    parser.add_argument("--simulator-port", type=int, help="also run the provider simulator on this port")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--print-nginx-conf", action="store_true", help="print the configuration of a deployment")
    parser.add_argument("--server-name", default="contact-centre.example.com")
    parser.add_argument("--odoo", action="append", help="host:port of an Odoo host's HTTP port (repeat)")
    parser.add_argument("--websocket", action="append", help="host:port of an Odoo host's gevent port (repeat)")
    parser.add_argument("--certificate")
    parser.add_argument("--certificate-key")
    args = parser.parse_args()
    if args.print_nginx_conf:
        print(
            render_nginx_conf(
                args.odoo or ["127.0.0.1:8069"],
                args.websocket or ["127.0.0.1:8072"],
                server_name=args.server_name,
                certificate=args.certificate,
                certificate_key=args.certificate_key,
            ),
            end="",
        )
        return
    if not args.db or not args.addons_path:
        parser.error("--db and --addons-path are required to run the stack")
    stack = Stack(
        args.db, args.addons_path, args.hosts, args.port, args.workdir, args.data_dir, log_level=args.log_level
    )
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def stop(_signum, _frame):
        for signum in signals:  # once: nothing interrupts the stopping
            signal.signal(signum, signal.SIG_IGN)
        raise KeyboardInterrupt

    for signum in signals:  # SIGINT too: a shell may have started this with SIGINT ignored
        signal.signal(signum, stop)
    try:
        stack.start()
        if args.simulator_port:
            stack.start_simulator(args.simulator_port, quiet=False)
        hosts = ", ".join(f"HTTP {h.http_port} + gevent {h.gevent_port}" for h in stack.hosts)
        print(f"Contact Centre (production-like): {stack.url} (admin / admin)", flush=True)
        print(f"  nginx {stack.port} -> {len(stack.hosts)} Odoo host(s): {hosts}; {' '.join(ODOO_OPTIONS)}")
        print(f"  certificate to trust: {stack.ca} (e.g. curl --cacert, REQUESTS_CA_BUNDLE)")
        print(f"  logs: {', '.join(h.logfile for h in stack.hosts)}, {stack.nginx.prefix}/access.log", flush=True)
        while all(host.alive() for host in stack.hosts) and stack.nginx.process.poll() is None:
            time.sleep(1)
        print("a process of the stack exited: stopping", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
