"""The local stack: the services of ``compose.yaml`` as processes under supervisord.

``compose.yaml`` stays the single description of the services: their
commands, environment and volumes are read from it. What a container
platform would provide is done locally instead:

* the ``rabbitmq`` container is a private RabbitMQ node (Debian's
  ``rabbitmq-server``) with its own data directory, ports and plugin file, and
  the users that ``deploy/rabbitmq/definitions.sh`` writes;
* the ``proxy`` container is Debian's nginx with the same template;
* service host names become 127.0.0.1 and each process gets its own port;
  named volumes become folders under the run directory.

supervisord (an existing, well-tried process manager) starts, restarts and
stops everything; tests use its XML-RPC interface to kill and restart parts::

    with Stack(StackConfig(run_dir=Path(".run/test"), gateways=2)) as stack:
        httpx.get(stack.proxy_url + "/api/state")
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from runner import compose

__all__ = ["ADDRESSES", "ROOT", "SECRET_NAMES", "Stack", "StackConfig", "StackError", "free_port", "read_secrets"]

ROOT = Path(__file__).resolve().parent.parent
SECRET_NAMES = (
    "TRAITSWEB_MODEL_PASSWORD",
    "TRAITSWEB_GATEWAY_PASSWORD",
    "TRAITSWEB_DESKTOP_PASSWORD",
    "TRAITSWEB_SESSION_SECRET",
)
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
#: in a started stack's run directory: its addresses (see Stack._write_addresses)
ADDRESSES = "stack.json"
SECRETS_FILE = "secrets.env"


class StackError(RuntimeError):
    pass


def free_port() -> int:
    """A free port below the kernel's ephemeral range: a port picked by binding to 0 comes from that range,
    and an outgoing connection (benchmarks open thousands) can take it before the service binds it."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    low = 10_000 if ephemeral > 12_000 else 1024
    for _ in range(100):
        port = low + secrets.randbelow(max(ephemeral - low, 1))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    with socket.socket() as sock:  # a crowded range: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StackConfig:
    run_dir: Path
    gateways: int = 1
    proxy: bool = True
    desktop: bool = False
    model: bool = True
    #: 0 picks a free port
    proxy_port: int = 0
    stomp_port: int = 0
    #: extra environment per compose service name ("*" for all)
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    #: start the desktop window (the ``desktop-gui`` service) instead of headless PNGs
    desktop_window: bool = False
    ready_timeout: float = 90.0
    compose_file: Path = ROOT / "compose.yaml"


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.run_dir = config.run_dir.resolve()
        self.stomp_port = config.stomp_port or free_port()
        self.dist_port = free_port()
        self.proxy_port = config.proxy_port or free_port()
        self.gateway_ports = [free_port() for _ in range(config.gateways)]
        self.secrets: dict[str, str] = {}
        self.programs: list[str] = []
        self._supervisord: subprocess.Popen[bytes] | None = None

    # -- addresses ----------------------------------------------------------------
    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def gateway_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.gateway_ports]

    def broker_url(self, user: str) -> str:
        return f"stomp://{user}:{self.secrets[f'TRAITSWEB_{user.upper()}_PASSWORD']}@127.0.0.1:{self.stomp_port}"

    @property
    def volumes(self) -> Path:
        return self.run_dir / "volumes"

    # -- lifetime -----------------------------------------------------------------
    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._prepare()
        log = open(self.run_dir / "supervisord.out", "ab")
        self._supervisord = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(self.run_dir / "supervisord.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,  # the logs and whatever the programs write are the owner's only
        )
        log.close()
        try:
            # the broker first: services would only back off while it boots
            self.wait_ready(self.config.ready_timeout, ["rabbitmq"])
            for name in self.programs[1:]:
                self.start_program(name)
            self.wait_ready(self.config.ready_timeout)
            self._write_addresses()
        except BaseException:
            self.close()
            raise

    def _write_addresses(self) -> None:
        """Where a running stack listens, for clients started by hand (``make desktop``); no secrets."""
        addresses = {"stomp_port": self.stomp_port, "proxy_url": self.proxy_url if self.config.proxy else None,
                     "gateway_urls": self.gateway_urls, "pid": os.getpid()}
        write_private(self.run_dir / ADDRESSES, json.dumps(addresses, indent=1) + "\n")

    def close(self) -> None:
        proc, self._supervisord = self._supervisord, None
        if proc is None:
            return
        (self.run_dir / ADDRESSES).unlink(missing_ok=True)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # supervisord stops every program, then exits
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # -- control of single programs (names: rabbitmq, model, gateway-1, proxy, desktop) --
    def rpc(self, method: str, *args: Any) -> Any:
        """Call supervisord's XML-RPC ``supervisor.<method>`` over its unix socket."""
        transport = SupervisorTransport(None, None, f"unix://{self.run_dir / 'supervisor.sock'}")
        with xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport) as proxy:
            try:
                return getattr(proxy.supervisor, method)(*args)
            finally:
                transport.close()

    def stop(self, name: str) -> None:
        self.rpc("stopProcess", name, True)

    def start_program(self, name: str) -> None:
        self.rpc("startProcess", name, False)

    def pid(self, name: str) -> int:
        return int(self.rpc("getProcessInfo", name)["pid"])

    def broker_pid(self) -> int:
        """The Erlang VM's pid (the program itself is a shell script waiting on it)."""
        parent = self.pid("rabbitmq")
        children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
        for child in children:
            if "beam" in Path(f"/proc/{child}/comm").read_text():
                return int(child)
        raise StackError("the RabbitMQ VM is not running")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Signal a program (for rabbitmq: its VM); supervisord restarts what dies."""
        pid = self.broker_pid() if name == "rabbitmq" else self.pid(name)
        os.kill(pid, sig)
        return pid

    def log(self, name: str) -> str:
        path = self.run_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- readiness ------------------------------------------------------------------
    def wait_ready(self, timeout: float, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for name in names or self.programs:
            check = self._check_for(name)
            while not check():
                if self._supervisord is not None and self._supervisord.poll() is not None:
                    raise StackError(f"supervisord exited; see {self.run_dir / 'supervisord.out'}")
                if time.monotonic() > deadline:
                    raise StackError(f"{name} not ready within {timeout} s; log:\n{self.log(name)[-3000:]}")
                time.sleep(0.1)

    def _check_for(self, name: str) -> Any:
        if name == "rabbitmq":
            return lambda: stomp_handshake("127.0.0.1", self.stomp_port, "model", self.secrets["TRAITSWEB_MODEL_PASSWORD"])
        if name.startswith("gateway-"):
            port = self.gateway_ports[int(name.split("-")[1]) - 1]
            return lambda: http_ok(port, "/readyz")
        if name == "proxy":
            return lambda: http_ok(self.proxy_port, "/healthz")
        if name == "model":
            return lambda: "connected to" in self.log("model")
        if name == "desktop":  # headless: the first PNG is written; window: it shows the model's state
            return lambda: "desktop ready" in self.log("desktop")
        return lambda: True

    # -- configuration ----------------------------------------------------------------
    def _prepare(self) -> None:
        _private_dir(self.run_dir)
        for sub in ("logs", "volumes", "rabbitmq", "nginx"):
            (self.run_dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.secrets = self._load_secrets()
        env = {**os.environ, **self.secrets}
        services = compose.load(self.config.compose_file, env)
        self.programs = []
        blocks = [self._supervisord_header(), self._rabbitmq_program()]
        if self.config.model:
            blocks.append(self._program("model", services["model"]))
        for index, port in enumerate(self.gateway_ports, start=1):
            overrides = {
                "TRAITSWEB_HTTP_HOST": "127.0.0.1",
                "TRAITSWEB_HTTP_PORT": str(port),
                "TRAITSWEB_REPLICA": f"gateway-{index}",
                "TRAITSWEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{self.proxy_port},http://localhost:{self.proxy_port}",
            }
            blocks.append(self._program(f"gateway-{index}", services["gateway"], overrides))
        if self.config.proxy and self.gateway_ports:
            blocks.append(self._nginx_program(services["proxy"]))
        if self.config.desktop:
            service = services["desktop-gui" if self.config.desktop_window else "desktop"]
            blocks.append(self._program("desktop", service))
        write_private(self.run_dir / "supervisord.conf", "\n".join(blocks))  # every broker URL, the session secret

    def _load_secrets(self) -> dict[str, str]:
        """Secrets from the environment, else generated once and kept in the run directory."""
        path = self.run_dir / SECRETS_FILE
        saved = read_secrets(self.run_dir)
        values = {name: os.environ.get(name) or saved.get(name) or secrets.token_hex(16) for name in SECRET_NAMES}
        write_private(path, "".join(f"{k}={v}\n" for k, v in values.items()))
        return values

    def _supervisord_header(self) -> str:
        run = self.run_dir
        return f"""[unix_http_server]
file={run}/supervisor.sock
chmod=0700

[supervisord]
logfile={run}/supervisord.log
pidfile={run}/supervisord.pid
childlogdir={run}/logs
nodaemon=true
# gateways hold one socket per browser (benchmarks hold 10,000 idle long-polls on one replica);
# supervisord raises its soft limit to this and its programs inherit it
minfds={_minfds()}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{run}/supervisor.sock
"""

    def _block(self, name: str, command: str, env: dict[str, str], extra: str = "") -> str:
        self.programs.append(name)
        environment = ",".join(f'{k}="{_escape(v)}"' for k, v in env.items())
        return f"""
[program:{name}]
command={command.replace("%", "%%")}
directory={ROOT}
environment={environment}
autostart={"true" if name == "rabbitmq" else "false"}
autorestart=true
startsecs=0
startretries=1000
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={self.run_dir}/logs/{name}.log
stdout_logfile_maxbytes=20MB
{extra}"""

    def _rabbitmq_program(self) -> str:
        if not RABBITMQ_SERVER.exists():
            raise StackError("RabbitMQ is not installed: `make setup` installs Debian's rabbitmq-server")
        base = self.run_dir / "rabbitmq"
        shutil.copy(ROOT / "deploy/rabbitmq/enabled_plugins", base / "enabled_plugins")
        subprocess.run(
            ["sh", str(ROOT / "deploy/rabbitmq/definitions.sh"), str(base / "definitions.json")],
            env={**os.environ, **self.secrets},
            check=True,
        )
        (base / "rabbitmq.conf").write_text(
            # STOMP only: every service speaks STOMP, and an AMQP listener would accept the same users
            # (rabbitmqctl reaches the node over the distribution port, not AMQP)
            "listeners.tcp = none\n"
            f"stomp.listeners.tcp.1 = 127.0.0.1:{self.stomp_port}\n"
            f"load_definitions = {base}/definitions.json\n"
            "stomp.default_vhost = /\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
        )
        (base / "data").mkdir(exist_ok=True)
        user = ""
        if os.geteuid() == 0:  # Debian's node runs as the rabbitmq user, who must own its files
            shutil.chown(base, "rabbitmq", "rabbitmq")
            for path in base.rglob("*"):
                shutil.chown(path, "rabbitmq", "rabbitmq")
            user = "user=rabbitmq\n"
        env = {
            "HOME": "/var/lib/rabbitmq" if user else os.environ.get("HOME", "/tmp"),
            "RABBITMQ_NODENAME": f"traitsweb-{self.stomp_port}@localhost",
            # the distribution port (rabbitmqctl's way in) on loopback only, like the STOMP listener
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": f"{base}/data",
            "RABBITMQ_LOG_BASE": f"{base}",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{base}/enabled_plugins",
            "RABBITMQ_CONFIG_FILE": f"{base}/rabbitmq.conf",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{base}/advanced.config",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        return self._block("rabbitmq", str(RABBITMQ_SERVER), env, user)

    def _program(self, name: str, service: compose.Service, overrides: dict[str, str] | None = None) -> str:
        env = {k: self._localise(service, v) for k, v in self._with_secrets(service.environment).items()}
        env.update(overrides or {})
        env.update(self.config.env.get("*", {}))
        env.update(self.config.env.get(service.name, {}))
        env.update(self.config.env.get(name, {}))
        for key in ("PATH", "HOME", "LANG", "DISPLAY", "XAUTHORITY", "QT_QPA_PLATFORM"):
            if key in os.environ and key not in env:
                env[key] = os.environ[key]
        env.setdefault("PYTHONUNBUFFERED", "1")
        args = [self._localise(service, arg) for arg in service.command]
        if args and args[0] == "python":
            args[0] = sys.executable
        return self._block(name, " ".join(_quote(a) for a in args), env)

    def _with_secrets(self, environment: dict[str, str]) -> dict[str, str]:
        """What the images' entrypoint (deploy/secrets/env.sh) does, with this run's secrets: a
        ``TRAITSWEB_X_FILE`` naming one of them becomes ``TRAITSWEB_X``, and a broker URL without a password
        gets ``TRAITSWEB_BROKER_PASSWORD``."""
        env: dict[str, str] = {}
        for key, value in environment.items():
            secret = value.rsplit("/", 1)[-1]
            if key.endswith("_FILE") and secret in self.secrets:
                env[key.removesuffix("_FILE")] = self.secrets[secret]
            else:
                env[key] = value
        password = env.pop("TRAITSWEB_BROKER_PASSWORD", "")
        if password and "TRAITSWEB_BROKER_URL" in env:
            env["TRAITSWEB_BROKER_URL"] = re.sub(r"^stomp://([^:@/]+)@", lambda m: f"stomp://{m[1]}:{password}@",
                                                 env["TRAITSWEB_BROKER_URL"])
        return env

    def _localise(self, service: compose.Service, value: str) -> str:
        """Container addresses and paths -> local ones."""
        value = value.replace("@rabbitmq:61613", f"@127.0.0.1:{self.stomp_port}")
        for volume, target in service.volumes.items():
            if value == target or value.startswith(target + "/"):
                local = self.volumes / volume
                local.mkdir(parents=True, exist_ok=True)
                value = str(local) + value[len(target) :]
        return value

    def _nginx_program(self, service: compose.Service) -> str:
        base = self.run_dir / "nginx"
        for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
            (base / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        servers = "".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;\n    " for port in self.gateway_ports)
        # the proxy service's environment is the template's variables, as envsubst in nginx's image sees them
        values = {**service.environment, **self.config.env.get("*", {}), **self.config.env.get("proxy", {})}
        values.update({
            "GATEWAY_SERVERS": servers.strip(),
            "PROXY_PORT": f"127.0.0.1:{self.proxy_port}",
            "PROXY_ACCESS_LOG": f"{self.run_dir}/logs/proxy-access.log",
        })
        site = render_template((ROOT / "deploy/nginx/traitsweb.conf.template").read_text(), values)
        (base / "nginx.conf").write_text(
            f"""daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {base}/nginx.pid;
error_log {self.run_dir}/logs/proxy-error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {base}/tmp/client;
    proxy_temp_path {base}/tmp/proxy;
    fastcgi_temp_path {base}/tmp/fastcgi;
    uwsgi_temp_path {base}/tmp/uwsgi;
    scgi_temp_path {base}/tmp/scgi;
{site}
}}
"""
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return self._block("proxy", f"{nginx} -p {base} -c {base}/nginx.conf", {})


def _minfds() -> int:
    """As many open files as the hard limit allows, up to 16,384 (supervisord refuses to start otherwise)."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 16384 if hard == resource.RLIM_INFINITY else min(16384, hard)


def read_secrets(run_dir: Path) -> dict[str, str]:
    """The secrets a stack in ``run_dir`` generated (empty when it has none yet)."""
    path = run_dir / SECRETS_FILE
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from the first byte (not chmod-ed after the fact)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        out.write(text)


def _private_dir(path: Path) -> None:
    """The run directory: the owner's only. Running as root, Debian's RabbitMQ node runs as the rabbitmq
    user and must pass through to its own folder: its group may traverse, never list or read."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.geteuid() == 0 and RABBITMQ_SERVER.exists():
        shutil.chown(path, group="rabbitmq")
        path.chmod(0o710)
    else:
        path.chmod(0o700)


def render_template(text: str, values: dict[str, str]) -> str:
    """Fill ``${NAME}`` for the given names only, as nginx's image does with envsubst."""
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def _escape(value: str) -> str:
    return value.replace("%", "%%").replace('"', '\\"')


def _quote(arg: str) -> str:
    return f'"{arg}"' if any(c in arg for c in " '\"") else arg


def stomp_handshake(host: str, port: int, user: str, password: str) -> bool:
    """True when a STOMP CONNECT as ``user`` gets CONNECTED."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(
                f"CONNECT\naccept-version:1.2\nhost:/\nlogin:{user}\npasscode:{password}\n\n\0".encode()
            )
            reply = sock.recv(4096)
            if reply.startswith(b"CONNECTED"):
                sock.sendall(b"DISCONNECT\n\n\0")
                return True
    except OSError:
        pass
    return False


def http_ok(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False
