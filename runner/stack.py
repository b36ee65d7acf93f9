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

import dataclasses
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
from runner.hosts import Hosts
from traitsweb.lifetime import Lifetime

__all__ = ["ADDRESSES", "ROOT", "SECRET_NAMES", "BrokerNode", "Stack", "StackConfig", "StackError", "free_port",
           "read_secrets", "stomp_exchange"]

ROOT = Path(__file__).resolve().parent.parent
SECRET_NAMES = (
    "TRAITSWEB_MODEL_PASSWORD",
    "TRAITSWEB_GATEWAY_PASSWORD",
    "TRAITSWEB_DESKTOP_PASSWORD",
    "TRAITSWEB_SESSION_SECRET",
)
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
#: the CLI itself, not Debian's wrapper in /usr/sbin (which runs it as the rabbitmq user, with that user's cookie)
RABBITMQCTL = RABBITMQ_SERVER.with_name("rabbitmqctl")
#: in a started stack's run directory: its addresses (see Stack._write_addresses)
ADDRESSES = "stack.json"
#: a cluster's node ports, kept in its run directory so that its node names stay (Stack._broker_nodes)
NODES = "nodes.json"
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
    #: model processes: the first to hold the lease applies inputs, the others follow the journal as standbys
    models: int = 1
    #: where the models journal: "file" (SQLite beside one model) or "stream" (the broker's, with replay
    #: from it in the gateways); empty: "stream" with standbys (``models`` > 1), else "file"
    journal: str = ""
    #: 0 picks a free port
    proxy_port: int = 0
    #: the first broker node's STOMP port (0 picks a free port; further nodes always get free ports)
    stomp_port: int = 0
    #: RabbitMQ nodes: 1 is one node (program ``rabbitmq``); more form one cluster (``rabbitmq-1``...)
    brokers: int = 1
    #: a cluster's nodes each on a test host of its own (a network namespace: runner.hosts, root only), so
    #: that a test can cut one off the others (``Stack.hosts.cut``); the services stay on the machine
    hosts: bool = False
    #: extra environment per compose service name ("*" for all)
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    #: start the desktop window (the ``desktop-gui`` service) instead of headless PNGs
    desktop_window: bool = False
    ready_timeout: float = 90.0
    compose_file: Path = ROOT / "compose.yaml"


@dataclass(frozen=True)
class BrokerNode:
    """One private RabbitMQ node: its supervisord program, ports, address and Erlang node name."""

    program: str
    stomp_port: int
    dist_port: int
    #: where its STOMP and distribution ports listen: the machine's loopback, or its test host's address
    address: str = "127.0.0.1"
    #: the host part of its Erlang node name (a test host's name, which runner.hosts resolves for Erlang)
    hostname: str = "localhost"

    @property
    def name(self) -> str:
        return f"traitsweb-{self.stomp_port}@{self.hostname}"


class Stack(Lifetime):
    def __init__(self, config: StackConfig) -> None:
        if config.brokers < 1:
            raise StackError("a stack needs at least one broker node")
        if config.hosts and config.brokers < 2:
            raise StackError("test hosts are for a cluster's nodes: hosts=True needs brokers > 1")
        self.config = config
        self.run_dir = config.run_dir.resolve()
        self.nodes = self._broker_nodes()
        self.hosts: Hosts | None = None
        if config.hosts:
            self.hosts = Hosts(str(self.nodes[0].stomp_port), len(self.nodes))
            self.nodes = [dataclasses.replace(node, address=self.hosts.address(k), hostname=self.hosts.name(k))
                          for k, node in enumerate(self.nodes, start=1)]
        self.stomp_port = self.nodes[0].stomp_port
        self.dist_port = self.nodes[0].dist_port
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

    @property
    def broker_addresses(self) -> str:
        """``address:port`` of every node, comma-separated (one for a single node)."""
        return ",".join(f"{node.address}:{node.stomp_port}" for node in self.nodes)

    def broker_url(self, user: str) -> str:
        return f"stomp://{user}:{self.secrets[f'TRAITSWEB_{user.upper()}_PASSWORD']}@{self.broker_addresses}"

    def _broker_nodes(self) -> list[BrokerNode]:
        """The broker nodes, with free ports; a cluster's in a run directory used before keep their ports.

        A node's name is made of its STOMP port, and a cluster's nodes remember each other by name in their
        data: with new ports on a second ``make run BROKERS=3``, the nodes would wait for peers that never
        come back. So the ports of a cluster are kept in the run directory (``nodes.json``) and used again.
        """
        config = self.config
        saved = self.run_dir / NODES
        if config.brokers > 1 and saved.exists():
            kept = json.loads(saved.read_text())
            if len(kept) == config.brokers and (not config.stomp_port or kept[0][0] == config.stomp_port):
                return [BrokerNode(f"rabbitmq-{n}", stomp, dist) for n, (stomp, dist) in enumerate(kept, start=1)]
        ports = [config.stomp_port or free_port(), *(free_port() for _ in range(config.brokers - 1))]
        return [BrokerNode("rabbitmq" if config.brokers == 1 else f"rabbitmq-{n}", port, free_port())
                for n, port in enumerate(ports, start=1)]

    @property
    def volumes(self) -> Path:
        return self.run_dir / "volumes"

    # -- lifetime -----------------------------------------------------------------
    def start(self) -> None:
        if self.hosts is not None:
            self.hosts.start()
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
            # the broker first: services would only back off while it boots. A cluster's first node boots
            # alone, then the others join it (started together, blank nodes could each form a cluster of one)
            first, *others = self.nodes
            self.wait_ready(self.config.ready_timeout, [first.program])
            if others:
                for node in others:
                    self.start_program(node.program)
                self.wait_ready(self.config.ready_timeout, [node.program for node in others])
                self._form_cluster()
            self.wait_definitions(self.config.ready_timeout)
            for name in self.programs[len(self.nodes):]:
                self.start_program(name)
            self.wait_ready(self.config.ready_timeout)
            self._write_addresses()
        except BaseException:
            self.close()
            raise

    def _write_addresses(self) -> None:
        """Where a running stack listens, for clients started by hand (``make desktop``); no secrets."""
        addresses = {"stomp_port": self.stomp_port, "stomp_ports": [node.stomp_port for node in self.nodes],
                     "proxy_url": self.proxy_url if self.config.proxy else None,
                     "gateway_urls": self.gateway_urls, "pid": os.getpid()}
        write_private(self.run_dir / ADDRESSES, json.dumps(addresses, indent=1) + "\n")

    def close(self) -> None:
        proc, self._supervisord = self._supervisord, None
        if proc is not None:
            (self.run_dir / ADDRESSES).unlink(missing_ok=True)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # supervisord stops every program, then exits
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if self.hosts is not None:
            self.hosts.close()

    # -- control of single programs (names: rabbitmq or rabbitmq-1..N, model, gateway-1, proxy, desktop) --
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

    def broker_pid(self, program: str = "rabbitmq") -> int:
        """The Erlang VM's pid (the program itself is a shell script waiting on it)."""
        parent = self.pid(program)
        children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
        for child in children:
            if "beam" in Path(f"/proc/{child}/comm").read_text():
                return int(child)
        raise StackError("the RabbitMQ VM is not running")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Signal a program (for rabbitmq: its VM); supervisord restarts what dies."""
        pid = self.broker_pid(name) if name.startswith("rabbitmq") else self.pid(name)
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
        node = next((node for node in self.nodes if node.program == name), None)
        if node is not None:
            address, port = node.address, node.stomp_port
            return lambda: stomp_handshake(address, port, "model", self.secrets["TRAITSWEB_MODEL_PASSWORD"])
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
        for sub in ("logs", "volumes", "nginx", *(node.program for node in self.nodes)):
            (self.run_dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.secrets = self._load_secrets()
        if len(self.nodes) > 1:
            write_private(self.run_dir / NODES, json.dumps([[n.stomp_port, n.dist_port] for n in self.nodes]))
        env = {**os.environ, **self.secrets}
        services = compose.load(self.config.compose_file, env)
        self.programs = []
        blocks = [self._supervisord_header(), *self._rabbitmq_programs()]
        if self.config.model:
            blocks.append(self._program("model", services["model"], self._standby_env()))
            for index in range(2, self.config.models + 1):
                blocks.append(self._program(f"model-{index}", services["model"], self._standby_env(index)))
        for index, port in enumerate(self.gateway_ports, start=1):
            overrides = {
                "TRAITSWEB_HTTP_HOST": "127.0.0.1",
                "TRAITSWEB_HTTP_PORT": str(port),
                "TRAITSWEB_REPLICA": f"gateway-{index}",
                "TRAITSWEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{self.proxy_port},http://localhost:{self.proxy_port}",
            }
            if self.journal == "stream":  # replay from the model's journal on the broker
                overrides["TRAITSWEB_HISTORY_SIZE"] = "100000"
            blocks.append(self._program(f"gateway-{index}", services["gateway"], overrides))
        if self.config.proxy and self.gateway_ports:
            blocks.append(self._nginx_program(services["proxy"]))
        if self.config.desktop:
            service = services["desktop-gui" if self.config.desktop_window else "desktop"]
            blocks.append(self._program("desktop", service))
        write_private(self.run_dir / "supervisord.conf", "\n".join(blocks))  # every broker URL, the session secret

    @property
    def journal(self) -> str:
        return self.config.journal or ("stream" if self.config.models > 1 else "file")

    def _standby_env(self, index: int = 1) -> dict[str, str]:
        """The journal; with standbys, heart-beats short enough that a frozen model loses the lease within seconds."""
        if self.config.models < 2:
            return {"TRAITSWEB_JOURNAL": self.journal}
        env = {"TRAITSWEB_JOURNAL": self.journal, "TRAITSWEB_HEARTBEAT_MS": "1000"}
        if index > 1:  # a disk of its own, as on another host
            env["TRAITSWEB_DATA_DIR"] = str(self.volumes / f"model-data-{index}")
        return env

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
autostart={"true" if name == self.nodes[0].program else "false"}
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

    def _rabbitmq_programs(self) -> list[str]:
        if not RABBITMQ_SERVER.exists():
            raise StackError("RabbitMQ is not installed: `make setup` installs Debian's rabbitmq-server")
        definitions = self.run_dir / self.nodes[0].program / "definitions.json"
        subprocess.run(
            ["sh", str(ROOT / "deploy/rabbitmq/definitions.sh"), str(definitions)],
            env={**os.environ, **self.secrets},
            check=True,
        )
        if len(self.nodes) > 1:
            # a quorum queue gets its members when it is declared: declared by the first node's boot, alone,
            # it would live on that node only. So the first node boots with users, permissions, exchanges and
            # policies, and the queues, with the bindings that need them, are imported once the cluster has all
            # its nodes (_form_cluster)
            everything = json.loads(definitions.read_text())
            later = {"queues": everything.pop("queues"), "bindings": everything.pop("bindings", [])}
            write_private(self.run_dir / "queues.json", json.dumps(later))
            write_private(definitions, json.dumps(everything))
        return [self._rabbitmq_program(node, definitions if n == 0 else None) for n, node in enumerate(self.nodes)]

    def _rabbitmq_program(self, node: BrokerNode, definitions: Path | None) -> str:
        base = self.run_dir / node.program
        shutil.copy(ROOT / "deploy/rabbitmq/enabled_plugins", base / "enabled_plugins")
        config = (
            # STOMP only: every service speaks STOMP, and an AMQP listener would accept the same users
            # (rabbitmqctl reaches the node over the distribution port, not AMQP)
            "listeners.tcp = none\n"
            f"stomp.listeners.tcp.1 = {node.address}:{node.stomp_port}\n"
            + (f"load_definitions = {definitions}\n" if definitions else "")
            + "stomp.default_vhost = /\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
        )
        if len(self.nodes) > 1:
            config += self._cluster_config()
        (base / "rabbitmq.conf").write_text(config)
        (base / "data").mkdir(exist_ok=True)
        home = self._cluster_home() if len(self.nodes) > 1 else None
        user = ""
        if os.geteuid() == 0:  # Debian's node runs as the rabbitmq user, who must own its files
            for path in [base, *base.rglob("*"), *([home, *home.iterdir()] if home else [])]:
                shutil.chown(path, "rabbitmq", "rabbitmq")
            user = "user=rabbitmq\n"
        command, host_env = str(RABBITMQ_SERVER), dict[str, str]()
        if self.hosts is not None:  # entering its host takes root: the user is changed there, not by supervisord
            setpriv = ["/usr/bin/setpriv", "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups"]
            command = " ".join(self.hosts.command(self.nodes.index(node) + 1, [*setpriv, command]))
            user = ""
            host_env = self._host_env()
        erl_args = f"-kernel inet_dist_use_interface {{{node.address.replace('.', ',')}}}"
        if home is not None:
            # a frozen peer is declared down after ~10 s, not the default minute: until then, any change
            # of the cluster's metadata (a reconnecting client's subscription queue) waits for it
            erl_args += " -kernel net_ticktime 10"
        env = {
            # a cluster's nodes share one Erlang cookie, in a HOME of their own (Erlang reads $HOME/.erlang.cookie)
            "HOME": str(home) if home else "/var/lib/rabbitmq" if user else os.environ.get("HOME", "/tmp"),
            "RABBITMQ_NODENAME": node.name,
            **host_env,
            # the distribution port (rabbitmqctl's and the other nodes' way in) on the node's own address only
            # (loopback, or its test host's), like STOMP
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": erl_args,
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": f"{base}/data",
            "RABBITMQ_LOG_BASE": f"{base}",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{base}/enabled_plugins",
            "RABBITMQ_CONFIG_FILE": f"{base}/rabbitmq.conf",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{base}/advanced.config",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        # supervisord stops programs in reverse priority: the services first (each leaves while its broker is
        # there: the model checkpoints), then the nodes, the first last (it is the one started first again)
        priority = f"priority={self.nodes.index(node) + 1}\n"
        return self._block(node.program, command, env, user + priority)

    def _cluster_config(self) -> str:
        """Clustered by configuration: each node knows its peers; a blank node joins the first it reaches."""
        peers = "".join(f"cluster_formation.classic_config.nodes.{n} = {node.name}\n"
                        for n, node in enumerate(self.nodes, start=1))
        # a node that was cut off (frozen, then thawed) finds the others have declared it down: autoheal
        # restarts the losing side, which rejoins; pause_minority would leave it paused in a partition
        return f"cluster_formation.peer_discovery_backend = classic_config\n{peers}cluster_partition_handling = autoheal\n"

    def _cluster_home(self) -> Path:
        """The cluster's HOME: its Erlang cookie, made once per run directory, the owner's only."""
        home = self.run_dir / "rabbitmq-home"
        home.mkdir(mode=0o700, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            write_private(cookie, secrets.token_hex(20))
            cookie.chmod(0o400)
        if self.hosts is not None:
            self.hosts.inetrc(home / "inetrc")
            (home / "rabbitmq-env.conf").write_text("# on a test host: none of the machine's settings (runner.hosts)\n")
        return home

    def _host_env(self) -> dict[str, str]:
        """On test hosts, what Erlang (a node, the CLI) needs: the hosts by name, and not the machine's
        /etc/rabbitmq/rabbitmq-env.conf, whose ERL_FLAGS may bind Erlang's distribution to 127.0.0.1, where
        no other host reaches it. Nothing without test hosts."""
        if self.hosts is None:
            return {}
        home = self.run_dir / "rabbitmq-home"
        return {"ERL_INETRC": str(home / "inetrc"), "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf")}

    def _cli(self, command: list[str], node: BrokerNode, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a RabbitMQ CLI command for ``node`` (its Erlang cookie's HOME, its plugins, RABBITMQ_NODENAME)."""
        home = self._cluster_home() if len(self.nodes) > 1 else Path(
            "/var/lib/rabbitmq" if os.geteuid() == 0 else os.environ.get("HOME", "/tmp"))
        env = {**os.environ, "HOME": str(home), "RABBITMQ_NODENAME": node.name, **self._host_env(),
               "PATH": f"{RABBITMQCTL.parent}:{os.environ.get('PATH', '')}",
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.run_dir / node.program / "enabled_plugins")}
        if self.hosts is not None:  # the CLI's node is named after the node's host, and must be reachable there
            command = self.hosts.command(self.nodes.index(node) + 1, command)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=home)

    def rabbitmqctl(self, *args: str, node: BrokerNode | None = None, timeout: float = 60) -> str:
        """Run ``rabbitmqctl -n NODE ARGS`` on a cluster node (the first by default); its output."""
        node = node or self.nodes[0]
        out = self._cli([str(RABBITMQCTL), "-q", "-n", node.name, *args], node, timeout)
        if out.returncode != 0:
            raise StackError(f"rabbitmqctl {args[0]} on {node.name}: {(out.stderr or out.stdout).strip()[-500:]}")
        return out.stdout

    def wait_definitions(self, timeout: float) -> None:
        """Wait until the first node is ready for traitsweb (``deploy/rabbitmq/ready.sh``, the image's
        healthcheck): a node opens its STOMP port, and takes log-ins, before it has imported the bindings
        the definitions declare, and until then a SEND to the ``traitsweb`` exchange is dropped."""
        deadline = time.monotonic() + timeout
        node = self.nodes[0]
        command = ["sh", str(ROOT / "deploy/rabbitmq/ready.sh"), str(node.stomp_port),
                   str(ROOT / "deploy/rabbitmq/definitions.sh")]
        while (out := self._cli(command, node, 60)).returncode != 0:
            if time.monotonic() > deadline:
                raise StackError(f"{node.program} not ready within {timeout} s: {out.stderr.strip()[-500:]}")
            time.sleep(0.2)

    def running_nodes(self) -> set[str]:
        """The nodes the first node sees running in its cluster."""
        status = json.loads(self.rabbitmqctl("cluster_status", "--formatter", "json"))
        return set(status.get("running_nodes", []))

    def wait_cluster(self, timeout: float) -> None:
        """Wait until the first node sees every node of the stack running in its cluster."""
        deadline = time.monotonic() + timeout
        names = {node.name for node in self.nodes}
        while (running := self._running_or_none()) != names:
            if time.monotonic() > deadline:
                raise StackError(f"the cluster has {sorted(running or [])} running, not all of {sorted(names)}")
            time.sleep(0.5)

    def wait_replicas(self, timeout: float) -> None:
        """Wait until every member of the model's quorum queues and streams (``traitsweb.*``) is online (a
        node can be running while its replicas still start: a fault test begins on a cluster that is whole,
        not merely up). A gateway's out queue is left out: a member of one stayed offline for minutes after
        its node was restarted, which stops nothing (its other two members serve)."""
        deadline = time.monotonic() + timeout
        while (short := self._replicas_offline()) != {}:
            if time.monotonic() > deadline:
                raise StackError(f"replicas still offline after {timeout} s: {short}")
            time.sleep(0.5)

    def _replicas_offline(self) -> dict[str, list[str]] | None:
        """Per replicated queue, its members not online; None when the node asked cannot say."""
        try:
            rows = json.loads(self.rabbitmqctl("list_queues", "name", "type", "members", "online", "--formatter", "json"))
        except (StackError, subprocess.TimeoutExpired, ValueError):
            return None
        return {row["name"]: sorted(set(row["members"]) - set(row["online"] or [])) for row in rows
                if row["type"] in ("quorum", "stream") and row["name"].startswith("traitsweb.")
                and set(row["members"]) - set(row["online"] or [])}

    def _form_cluster(self) -> None:
        """Wait for every node to be running in one cluster, then declare the queues (once: they persist)."""
        self.wait_cluster(self.config.ready_timeout)
        self.rabbitmqctl("import_definitions", str(self.run_dir / "queues.json"))

    def _running_or_none(self) -> set[str] | None:
        try:
            return self.running_nodes()
        except (StackError, subprocess.TimeoutExpired, ValueError):
            return None  # the node is still booting, or the one asked is down

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
        value = value.replace("@rabbitmq:61613", f"@{self.broker_addresses}")
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


def stomp_exchange(host: str, port: int, user: str, password: str, frames: bytes) -> str:
    """CONNECT as ``user`` on a bare connection, send ``frames``; what the broker said up to the first
    RECEIPT or ERROR (or until it closed the connection)."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"CONNECT\naccept-version:1.2\nhost:/\nlogin:{user}\npasscode:{password}\n\n\0".encode() + frames)
        received = b""
        while b"RECEIPT" not in received and b"ERROR" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        try:
            sock.sendall(b"DISCONNECT\n\n\0")
        except OSError:
            pass  # after an ERROR the broker has closed the connection
    return received.decode(errors="replace")


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
