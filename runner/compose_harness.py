"""`make compose-test`: run the unchanged compose.yaml for real under podman and test it.

Steps (each timed): stand-in base images from Debian's packages (cached: skipped when the image
exists), a wheelhouse for the images' pip (no package index inside containers here), the project's
images, `podman-compose up -d --scale gateway=3`, readiness, the HTTP integration suite with
TRAITSWEB_BASE_URL pointing at the published port, and always `podman-compose down -v`. With
`--cluster`, compose.cluster.yaml too: three nodes, and a round trip with one of them killed (docs/compose.md).

    python -m runner.compose_harness [--keep] [--gateways N] [--cluster] [-- PYTEST_ARGS...]
    python -m runner.compose_harness --down PROJECT     # remove a stack left by --keep

Exit code: the suite's (or 1 when the stack does not come up); 77 when podman cannot run here
(the reason is printed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from runner.stack import SECRET_NAMES, free_port

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".compose"
CONTAINERS_CONF = ROOT / "deploy/podman/containers.conf"
STANDIN = ROOT / "deploy/standin"
BOOKWORM = "localhost/traitsweb-standin-bookworm:bookworm"
SKIP = 77
#: what the HTTP suite is: the gateway's integration tests, parametrised by TRAITSWEB_BASE_URL
SUITE = ["tests/gateway"]


class HarnessError(Exception):
    pass


class Timings:
    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"compose-test: {name} ...", flush=True)
        start = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - start
            self.steps.append((name, took))
            print(f"compose-test: {name}: {took:.1f} s", flush=True)

    def report(self) -> str:
        return "\n".join(f"  {name:<58} {took:7.1f} s" for name, took in self.steps)


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def run(cmd: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env or podman_env(), check=True, **kwargs)


def why_podman_cannot_run() -> str | None:
    """None when podman can run containers here, else the reason."""
    for tool in ("podman", "runc", "debootstrap"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is not installed (scripts/system-deps.sh containers)"
    try:
        import podman_compose  # noqa: F401
    except ImportError:
        return "podman-compose is not installed (pip install -e '.[runner]')"
    if os.geteuid() != 0:
        return "not root: the compose test runs rootful podman (debootstrap and networks need root)"
    probe = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], env=podman_env(),
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`podman info` fails: {probe.stderr.strip()[-300:]}"
    return None


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], env=podman_env()).returncode == 0


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
            h.update(file.relative_to(ROOT).as_posix().encode() + b"\0" + file.read_bytes())
    return h.hexdigest()[:12]


def ensure_bookworm(timings: Timings) -> None:
    if image_exists(BOOKWORM):
        return
    with timings.step("debootstrap bookworm + podman import"), tempfile.TemporaryDirectory(
            dir=CACHE, prefix="rootfs-") as rootfs:
        run(["debootstrap", "--variant=minbase", "bookworm", rootfs, "http://deb.debian.org/debian"],
            stdout=subprocess.DEVNULL)
        # as in Docker's Debian images: no service starts while packages are installed
        Path(rootfs, "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
        Path(rootfs, "usr/sbin/policy-rc.d").chmod(0o755)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(["podman", "import", "-q", "-", BOOKWORM], stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise HarnessError("tar of the bookworm root file system failed")


def ensure_standin(kind: str, timings: Timings) -> str:
    name = f"localhost/traitsweb-standin-{kind}:{digest(STANDIN / kind)}"
    if not image_exists(name):
        with timings.step(f"stand-in {kind} image"):
            run(["podman", "build", "-q", "--build-arg", f"BASE_IMAGE={BOOKWORM}", "-t", name, str(STANDIN / kind)],
                stdout=subprocess.DEVNULL)
    return name


def ensure_wheels(timings: Timings) -> Path:
    """A wheelhouse with every dependency of the images, built on the host (pip reaches the index here)."""
    wheels = CACHE / "wheels"
    stamp = wheels / f".pyproject-{digest(ROOT / 'pyproject.toml')}"
    if not stamp.exists():
        with timings.step("wheelhouse (pip wheel on the host)"):
            shutil.rmtree(wheels, ignore_errors=True)
            run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(wheels),
                 f"{ROOT}[gateway,desktop]", "setuptools>=77"], stderr=subprocess.DEVNULL)
            for own in wheels.glob("traitsweb-*.whl"):
                own.unlink()  # the images build the project from its source
            stamp.touch()
    return wheels


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class ComposeStack:
    """One podman-compose project from the repository's compose.yaml; `down -v` on exit."""

    def __init__(self, env: dict[str, str], services: list[str], gateways: int, keep: bool,
                 files: list[str]) -> None:
        self.env = env
        self.services = services
        self.gateways = gateways
        self.keep = keep
        self.project = f"traitsweb-test-{os.getpid()}"
        self.compose = [sys.executable, "-m", "podman_compose", "--no-ansi", "-p", self.project,
                        *(arg for name in files for arg in ("-f", str(ROOT / name)))]

    def __call__(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return run([*self.compose, *args], env=self.env, **kwargs)

    def containers(self, service: str) -> list[str]:
        out = subprocess.run(
            ["podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
             "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}"],
            env=self.env, capture_output=True, text=True, check=True).stdout
        return sorted(out.split())

    def healthy(self, container: str) -> bool:
        return subprocess.run(["podman", "healthcheck", "run", container], env=self.env,
                              capture_output=True).returncode == 0

    def wait_ready(self, port: int, timeout: float, pending: list[str] | None = None) -> None:
        """Healthchecks do not run by themselves under this podman: run them, then check the proxy."""
        deadline = time.monotonic() + timeout
        if pending is None:
            pending = ["rabbitmq", *(["gateway"] if "gateway" in self.services else [])]
        while time.monotonic() < deadline:
            for service in list(pending):
                names = self.containers(service)
                expected = self.gateways if service == "gateway" else 1
                if len(names) == expected and all(self.healthy(n) for n in names):
                    print(f"compose-test: {service} healthy ({', '.join(names)})", flush=True)
                    pending.remove(service)
            if not pending and ("proxy" not in self.services or not port
                                or http_ok(f"http://127.0.0.1:{port}/readyz")):
                return
            time.sleep(1)  # polling readiness (podman offers no event for a passing healthcheck)
        raise HarnessError(f"stack not ready after {timeout:.0f} s (waiting for {pending or ['proxy']})")

    def logs(self) -> None:
        for service in self.services:
            for name in self.containers(service):
                print(f"----- logs of {name} (last 40 lines) -----", flush=True)
                subprocess.run(["podman", "logs", "--tail", "40", name], env=self.env)

    def down(self) -> None:
        remove_project(self.project, self.compose, self.env)


def remove_project(project: str, compose: list[str], env: dict[str, str]) -> None:
    """`podman-compose down -v`, then whatever it missed: it knows only replica 1 of a scaled service,
    so `--scale gateway=3` would leave gateway 2 and 3 (and so the pod, network and volumes) behind."""
    subprocess.run([*compose, "down", "-v", "-t", "5"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    label = f"label=io.podman.compose.project={project}"

    def podman(*args: str) -> str:
        done = subprocess.run(["podman", *args], env=env, capture_output=True, text=True)
        return done.stdout

    left = podman("ps", "-a", "-q", "--filter", label).split()
    if left:
        podman("rm", "-f", "-v", "-t", "5", *left)
    podman("pod", "rm", "-f", "-t", "5", f"pod_{project}")
    volumes = podman("volume", "ls", "-q", "--filter", label).split()
    if volumes:
        podman("volume", "rm", "-f", *volumes)
    podman("network", "rm", "-f", f"{project}_default")
    still = podman("ps", "-a", "-q", "--filter", label).split() + podman("volume", "ls", "-q", "--filter", label).split()
    if still:
        print(f"compose-test: WARNING: could not remove {still} of project {project}", flush=True)


def desktop_check(stack: ComposeStack, timeout: float = 60) -> None:
    """The headless desktop in its container renders the live model: /snapshots/latest.png appears."""
    [desktop] = stack.containers("desktop")
    deadline = time.monotonic() + timeout
    while subprocess.run(["podman", "exec", desktop, "test", "-s", "/snapshots/latest.png"],
                         env=stack.env).returncode != 0:
        if time.monotonic() > deadline:
            raise HarnessError(f"the desktop wrote no /snapshots/latest.png in {timeout:.0f} s")
        time.sleep(1)  # polling a file inside the container (no event to wait on from outside)
    run(["podman", "cp", f"{desktop}:/snapshots/latest.png", str(CACHE / "desktop-latest.png")], env=stack.env)
    print(f"compose-test: the desktop container renders PNGs (copy: {CACHE / 'desktop-latest.png'})", flush=True)


def without_secrets(env: dict[str, str]) -> dict[str, str]:
    """The first `docker compose up` path: nothing exported, the `secrets` service generates them all."""
    return {k: v for k, v in env.items() if k not in SECRET_NAMES}


def secrets_check(stack: ComposeStack) -> None:
    """The first start generated every secret (nothing was exported): the `secrets` service says so."""
    [container] = stack.containers("secrets")
    out = subprocess.run(["podman", "logs", container], env=stack.env, capture_output=True, text=True).stdout
    missing = [name for name in SECRET_NAMES if f"{name}: generated" not in out]
    if missing:
        raise HarnessError(f"the secrets service did not generate {missing}; its log:\n{out}")
    print("compose-test: the secrets service generated every secret (none exported)", flush=True)


def proxy_errors_check(stack: ComposeStack, port: int) -> None:
    """nginx's own answers in the container world are the gateway's JSON errors too: a body over its 128 KiB
    limit, then (the gateways stopped: last, it breaks the stack) no replica to answer."""
    base = f"http://127.0.0.1:{port}"

    def expect(request: urllib.request.Request, statuses: tuple[int, ...], code: str) -> urllib.error.HTTPError:
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
            if error.code in statuses and error.headers.get("content-type", "").startswith("application/json") \
                    and body.get("error") == code and body.get("detail"):
                return error
            raise HarnessError(f"{request.full_url}: {error.code} {body!r}, expected {statuses} {code}") from None
        raise HarnessError(f"{request.full_url}: no error, expected {statuses} {code}")

    big = urllib.request.Request(base + "/api/send", data=b'"' + b"x" * 200 * 1024 + b'"', method="POST",
                                 headers={"Content-Type": "application/json", "Origin": base})
    expect(big, (413,), "too_large")
    run(["podman", "stop", "-t", "5", *stack.containers("gateway")], env=stack.env, stdout=subprocess.DEVNULL)
    down = expect(urllib.request.Request(base + "/api/state"), (502, 503, 504), "unavailable")
    if not down.headers.get("retry-after"):
        raise HarnessError("the proxy's unavailable answer has no Retry-After")
    print(f"compose-test: nginx answers JSON: 413 too_large, {down.code} unavailable with Retry-After", flush=True)


#: compose.cluster.yaml's nodes, by service (compose.yaml's `rabbitmq` is node rabbitmq-1)
CLUSTER_NODES = ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]


def rabbitmqctl(stack: ComposeStack, service: str, *args: str) -> str:
    [container] = stack.containers(service)
    return subprocess.run(["podman", "exec", container, "rabbitmqctl", "-q", *args], env=stack.env,
                          capture_output=True, text=True, check=True).stdout


def running_nodes(stack: ComposeStack, service: str = "rabbitmq") -> list[str]:
    try:
        return sorted(json.loads(rabbitmqctl(stack, service, "cluster_status", "--formatter", "json"))["running_nodes"])
    except (subprocess.CalledProcessError, ValueError, KeyError):
        return []  # still booting, or down


def wait_cluster(stack: ComposeStack, timeout: float, asked: str = "rabbitmq") -> list[str]:
    deadline = time.monotonic() + timeout
    while len(nodes := running_nodes(stack, asked)) < len(CLUSTER_NODES):
        if time.monotonic() > deadline:
            raise HarnessError(f"the cluster has {nodes or 'no node'} running after {timeout:.0f} s, not 3")
        time.sleep(1)  # polling the node (no event for a node joining)
    return nodes


def cluster_up(stack: ComposeStack, timeout: float, timings: Timings) -> None:
    """compose.cluster.yaml, in the order its `depends_on` asks (this podman ignores `service_healthy`,
    docker compose keeps it): the first node, then the two that join it, then the one-shot
    `rabbitmq-members` that gives every queue a member on each node."""
    with timings.step("cluster: rabbitmq-1 up"):
        stack("up", "-d", "secrets", "rabbitmq", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.wait_ready(0, timeout, ["rabbitmq"])
    with timings.step("cluster: rabbitmq-2 and rabbitmq-3 join"):
        stack("up", "-d", "rabbitmq-2", "rabbitmq-3", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.wait_ready(0, timeout, ["rabbitmq-2", "rabbitmq-3"])
        print(f"compose-test: cluster of {', '.join(wait_cluster(stack, timeout))}", flush=True)
    with timings.step("cluster: rabbitmq-members"):
        stack("up", "-d", "rabbitmq-members", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        [members] = stack.containers("rabbitmq-members")
        code = subprocess.run(["podman", "wait", members], env=stack.env, capture_output=True, text=True,
                              check=True).stdout.strip()
        if code != "0":
            log = subprocess.run(["podman", "logs", members], env=stack.env, capture_output=True, text=True)
            raise HarnessError(f"rabbitmq-members exited {code}:\n{log.stdout}{log.stderr}")
    with timings.step(f"cluster: model, gateway x{stack.gateways}, the rest"):
        # one service at a time, in the order of their dependencies: podman-compose starts a project's
        # containers sorted by their number of dependencies, which the override makes tie, and would wait
        # for a service it has not started yet
        for services in ([s for s in stack.services if s in names] for names in (("model",), ("gateway",),
                                                                                   ("proxy", "desktop"))):
            stack("up", "-d", "--no-deps", "--scale", f"gateway={stack.gateways}", *services,
                  stdout=subprocess.DEVNULL)


def cluster_check(stack: ComposeStack) -> None:
    """Every queue of the model's has a member on each of the three nodes."""
    queues = json.loads(rabbitmqctl(stack, "rabbitmq", "list_queues", "name", "type", "members", "--formatter", "json"))
    ours = {q["name"]: q for q in queues if q["name"].startswith("traitsweb.") and q["type"] in ("quorum", "stream")}
    expected = {"traitsweb.in.quorum", "traitsweb.control.quorum", "traitsweb.lease", "traitsweb.journal",
                "traitsweb.checkpoints"}
    short = {name: q.get("members") for name, q in ours.items() if len(q.get("members") or []) != 3}
    if set(ours) != expected or short:
        raise HarnessError(f"the model's queues are not on all three nodes: {sorted(ours)} (short: {short})")
    print(f"compose-test: {', '.join(sorted(ours))}: a member on each of the 3 nodes", flush=True)
    ticks = {node: rabbitmqctl(stack, node, "eval", "net_kernel:get_net_ticktime().").strip()
             for node in CLUSTER_NODES}
    if set(ticks.values()) != {"10"}:
        raise HarnessError(f"every node's net_ticktime should be 10 s (compose.cluster.yaml): {ticks}")
    print("compose-test: net_ticktime 10 s on each node", flush=True)


def node_loss_check(stack: ComposeStack, port: int, timeout: float) -> None:
    """kill -9 the first node (the queues' first leader): a chat round trip still works through the other
    two; the node, started again, rejoins."""
    [victim] = stack.containers("rabbitmq")
    run(["podman", "kill", "-s", "KILL", victim], env=stack.env, stdout=subprocess.DEVNULL)
    killed = time.monotonic()
    deadline = killed + 60
    while True:
        try:
            http_check(port)
            break
        except (urllib.error.HTTPError, HarnessError) as error:  # 503 while services move to another node
            if time.monotonic() > deadline:
                raise HarnessError(f"no chat round trip in 60 s after rabbitmq-1 was killed: {error}") from None
            time.sleep(0.5)  # polling the proxy (no event reaches the outside of the stack)
    print(f"compose-test: rabbitmq-1 killed: a chat round trip through the other nodes after "
          f"{time.monotonic() - killed:.1f} s", flush=True)
    run(["podman", "start", victim], env=stack.env, stdout=subprocess.DEVNULL)
    print(f"compose-test: rabbitmq-1 started again: cluster of "
          f"{', '.join(wait_cluster(stack, timeout, asked='rabbitmq-2'))}", flush=True)


def has_module(name: str) -> bool:
    return (ROOT / "services" / name / "__main__.py").exists()


def broker_check(stack: ComposeStack) -> None:
    """Without the gateway: the model answers a snapshot request over STOMP inside the network."""
    [model] = stack.containers("model")
    script = (
        "import json, os, sys, threading, stomp\n"
        "from traitsweb import protocol\n"
        "got = threading.Event(); box = {}\n"
        "class L(stomp.ConnectionListener):\n"
        "    def on_message(self, frame): box['body'] = frame.body; got.set()\n"
        "c = stomp.Connection([('rabbitmq', 61613)]); c.set_listener('', L())\n"
        "c.connect('gateway', os.environ['PW'], wait=True)\n"
        "c.send(protocol.CONTROL, json.dumps({'type': 'snapshot_request'}),\n"
        "       headers={**protocol.SEND_HEADERS, 'reply-to': '/temp-queue/check', 'user-id': 'gateway'})\n"
        "sys.exit(0 if got.wait(20) and json.loads(box['body']).get('type') == 'snapshot' else 1)\n"
    )
    password = subprocess.run(["podman", "exec", model, "cat", "/run/traitsweb-secrets/TRAITSWEB_GATEWAY_PASSWORD"],
                              env=stack.env, capture_output=True, text=True, check=True).stdout
    run(["podman", "exec", "-e", f"PW={password}", model, "python", "-c", script], env=stack.env)
    print("compose-test: the model answered a snapshot request over STOMP in the compose network", flush=True)


def http_check(port: int) -> None:
    """Without the HTTP suite in this tree: one chat round trip through nginx and the replicas."""
    base = f"http://127.0.0.1:{port}"
    origin = {"Origin": base, "Content-Type": "application/json"}

    def call(method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        headers = {**origin, **({"Authorization": f"Bearer {token}"} if token else {})}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    token = call("POST", "/api/login", {"name": "compose-check"})["session"]
    text = f"hello from compose {secrets.token_hex(4)}"
    call("POST", "/api/send", {"trait": "entry_field", "value": text}, token)
    deadline = time.monotonic() + 30
    confirmed = 0
    while confirmed < 6:  # consecutive reads: nginx spreads them over the replicas, every one must know
        state = call("GET", "/api/state", token=token)
        if any(text in json.dumps(m) for m in state["state"].get("messages", [])):
            confirmed += 1
            continue
        confirmed = 0
        if time.monotonic() > deadline:
            raise HarnessError(f"message sent through {base} never showed in /api/state")
        # wait for the next change rather than sleeping
        call("GET", f"/api/poll?since={state['seq']}&epoch={state['epoch']}&timeout=2", token=token)
    print(f"compose-test: login, send and state through nginx on {base}: ok", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compose-test", description=__doc__.split("\n")[0])
    parser.add_argument("--gateways", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the stack running (no down -v)")
    parser.add_argument("--cluster", action="store_true",
                        help="with compose.cluster.yaml: 3 RabbitMQ nodes, and one of them killed under the check")
    parser.add_argument("--ready-timeout", type=float, default=180)
    parser.add_argument("--down", metavar="PROJECT", help="only remove a project left by --keep")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)

    if args.down:
        remove_project(args.down, [sys.executable, "-m", "podman_compose", "-p", args.down,
                                   "-f", str(ROOT / "compose.yaml")], without_secrets(podman_env()))
        return 0
    reason = why_podman_cannot_run()
    if reason:
        print(f"compose-test: SKIPPED: podman cannot run here: {reason}", flush=True)
        return SKIP
    CACHE.mkdir(exist_ok=True)
    timings = Timings()
    code = 1
    try:
        ensure_bookworm(timings)
        bases = {kind: ensure_standin(kind, timings) for kind in ("python", "rabbitmq", "nginx")}
        wheels = ensure_wheels(timings)
        services = ["secrets", "rabbitmq", "model"]
        if has_module("gateway"):
            services += ["gateway", "proxy"]
        if has_module("desktop"):
            services.append("desktop")
        missing = {"gateway", "desktop"} - set(services)
        if missing:
            print(f"compose-test: services.{'/'.join(sorted(missing))} not in this tree: left out of the stack",
                  flush=True)
        port = free_port()
        env = {
            **without_secrets(podman_env()),
            "PYTHON_BASE_IMAGE": bases["python"],
            "RABBITMQ_BASE_IMAGE": bases["rabbitmq"],
            "NGINX_BASE_IMAGE": bases["nginx"],
            "TRAITSWEB_PORT": str(port),
            "TRAITSWEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{port},http://localhost:{port}",
        }
        files = ["compose.yaml", *(["compose.cluster.yaml"] if args.cluster else [])]
        if args.cluster:
            services[2:2] = ["rabbitmq-2", "rabbitmq-3", "rabbitmq-members"]
        stack = ComposeStack(env, services, args.gateways, args.keep, files)
        with timings.step("image builds (podman-compose build)"):
            # every image, also those whose service this tree cannot run yet
            stack(f"--podman-build-args=--volume {wheels}:/wheels:ro", "build", stdout=subprocess.DEVNULL)
            # the images a rebuild replaced (untagged, unused) would pile up run after run
            run(["podman", "image", "prune", "-f"], stdout=subprocess.DEVNULL)
        try:
            if args.cluster:
                cluster_up(stack, args.ready_timeout, timings)
            else:
                scaled = f"; gateway x{args.gateways}" if "gateway" in services else ""
                with timings.step(f"stack up ({', '.join(services)}{scaled})"):
                    stack("up", "-d", "--scale", f"gateway={args.gateways}", *services,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with timings.step("readiness"):
                stack.wait_ready(port, args.ready_timeout)
            secrets_check(stack)
            if args.cluster:
                cluster_check(stack)
            if "gateway" in services and args.cluster:
                with timings.step("HTTP check (the suite runs on the single node)"):
                    http_check(port)
                    code = 0
            elif "gateway" in services and not all((ROOT / path).exists() for path in SUITE):
                with timings.step("HTTP check (no HTTP suite in this tree)"):
                    http_check(port)
                    code = 0
            elif "gateway" in services:
                with timings.step("HTTP integration suite"):
                    suite_env = {**os.environ, "TRAITSWEB_BASE_URL": f"http://127.0.0.1:{port}"}
                    code = subprocess.run([sys.executable, "-m", "pytest", *SUITE, *args.pytest_args],
                                          cwd=ROOT, env=suite_env).returncode
            else:
                with timings.step("STOMP check (no gateway in this tree)"):
                    broker_check(stack)
                    code = 0
            if code == 0 and "desktop" in services:
                with timings.step("desktop PNG check"):
                    desktop_check(stack)
            if code == 0 and args.cluster and "gateway" in services:
                with timings.step("cluster: kill -9 rabbitmq-1 under a chat round trip"):
                    node_loss_check(stack, port, args.ready_timeout)
            if code == 0 and "proxy" in services:
                with timings.step("proxy error format (stops the gateways)"):
                    proxy_errors_check(stack, port)
            if code != 0:
                stack.logs()
        except (HarnessError, subprocess.CalledProcessError, OSError) as exc:
            print(f"compose-test: FAILED: {exc}", flush=True)
            stack.logs()
            code = 1
        finally:
            if args.keep:
                print(f"compose-test: --keep: project {stack.project} left running on http://127.0.0.1:{port};"
                      f" remove it with: python -m runner.compose_harness --down {stack.project}", flush=True)
            else:
                with timings.step("teardown (podman-compose down -v)"):
                    stack.down()
    except (HarnessError, subprocess.CalledProcessError, OSError) as exc:
        print(f"compose-test: FAILED: {exc}", flush=True)
        code = 1
    print("compose-test timings:\n" + timings.report(), flush=True)
    print(json.dumps({"compose_test_exit": code}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
