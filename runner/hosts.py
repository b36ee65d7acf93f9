"""Test hosts on one machine: a network namespace per broker node, all on one bridge.

Each host has its own address, loopback, ports and epmd, as a machine of its own would; the services stay
in the machine's own namespace and reach every host through the bridge. That makes a network partition a
test can cause and heal: :meth:`Hosts.cut` makes one host unreachable from the others (blackhole routes both
ways) while every service still reaches it, the split a broken switch port between two racks makes::

    with Hosts(tag="12345", count=3) as hosts:
        hosts.address(1)          # "10.213.160.1", host 1's address
        with hosts.cut(3):        # host 3 is cut off from hosts 1 and 2 until the block ends
            ...

Root only (namespaces, links and routes are the kernel's, changed with ``ip`` from iproute2). Erlang finds
the hosts by name through :meth:`Hosts.inetrc`, a hosts file of its own (``ERL_INETRC``), so nothing is
written to the machine's ``/etc/hosts``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from traitsweb.lifetime import Lifetime

__all__ = ["Hosts", "HostsError"]

IP = "/usr/sbin/ip"
EPMD = "/usr/bin/epmd"


class HostsError(RuntimeError):
    pass


class Hosts(Lifetime):
    """``count`` hosts named ``tw<tag>-1``..., on the bridge ``twb<tag>``, in ``10.213.<n>.0/24``."""

    def __init__(self, tag: str, count: int) -> None:
        if not tag.isdigit() or len(tag) > 6:
            raise HostsError(f"a hosts tag is up to 6 digits (interface names are at most 15 characters): {tag!r}")
        self.tag = tag
        self.count = count
        self.subnet = f"10.213.{int(tag) % 250 + 1}"
        self.bridge = f"twb{tag}"
        self._made: list[list[str]] = []  # what start made, undone in reverse by close
        self._cut: set[tuple[int, int]] = set()

    def name(self, host: int) -> str:
        """Host ``host``'s name (1-based): its namespace's, and the one Erlang resolves (:meth:`inetrc`)."""
        return f"tw{self.tag}-{host}"

    def address(self, host: int) -> str:
        return f"{self.subnet}.{host}"

    def inetrc(self, path: Path) -> Path:
        """Write an Erlang hosts file naming every host (for ``ERL_INETRC``); its path."""
        lines = [f'{{host, {{{self.address(k).replace(".", ",")}}}, ["{self.name(k)}"]}}.\n'
                 for k in range(1, self.count + 1)]
        path.write_text("".join(lines) + "{lookup, [file, native]}.\n")
        return path

    def command(self, host: int, argv: list[str]) -> list[str]:
        """``argv`` run on host ``host`` (in its namespace)."""
        return [IP, "netns", "exec", self.name(host), *argv]

    # -- lifetime -----------------------------------------------------------------
    def start(self) -> None:
        if os.geteuid() != 0:
            raise HostsError("test hosts are network namespaces: only root can make them")
        try:
            self._ip("link", "add", self.bridge, "type", "bridge", undo=["link", "del", self.bridge])
            self._ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
            self._ip("link", "set", self.bridge, "up")
            for host in range(1, self.count + 1):
                ns, outside, inside = self.name(host), f"twv{self.tag}{host}", f"twp{self.tag}{host}"
                self._ip("netns", "add", ns, undo=["netns", "del", ns])
                self._ip("link", "add", outside, "type", "veth", "peer", "name", inside, undo=["link", "del", outside])
                self._ip("link", "set", inside, "netns", ns)
                self._ip("link", "set", outside, "master", self.bridge, "up")
                self._ip("-n", ns, "link", "set", inside, "name", "eth0")
                self._ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
                self._ip("-n", ns, "link", "set", "eth0", "up")
                self._ip("-n", ns, "link", "set", "lo", "up")
                # its own epmd, where the other hosts and the CLI ask for its nodes' ports (a node starts
                # one itself only where one is already reachable by its name's address)
                done = subprocess.run(self.command(host, [EPMD, "-daemon"]), capture_output=True, text=True)
                if done.returncode != 0:
                    raise HostsError(f"epmd on {ns}: {done.stderr.strip()}")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop what still runs on the hosts (epmd outlives its node), then remove them and the bridge."""
        for host in range(1, self.count + 1):
            listed = subprocess.run([IP, "netns", "pids", self.name(host)], capture_output=True, text=True)
            for pid in listed.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        while self._made:
            subprocess.run([IP, *self._made.pop()], capture_output=True)
        self._cut.clear()

    # -- partitions -----------------------------------------------------------------
    @contextlib.contextmanager
    def cut(self, host: int) -> Iterator[None]:
        """Host ``host`` unreachable from the other hosts, and they from it, for the block; the services
        still reach every host. Healed however the block ends."""
        others = [k for k in range(1, self.count + 1) if k != host]
        pairs = [(host, k) for k in others] + [(k, host) for k in others]
        try:
            for here, there in pairs:
                self._ip("-n", self.name(here), "route", "add", "blackhole", f"{self.address(there)}/32")
                self._cut.add((here, there))
            yield
        finally:
            for here, there in pairs:
                if (here, there) in self._cut:
                    self._ip("-n", self.name(here), "route", "del", "blackhole", f"{self.address(there)}/32")
                    self._cut.discard((here, there))

    def _ip(self, *args: str, undo: list[str] | None = None) -> None:
        done = subprocess.run([IP, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise HostsError(f"ip {' '.join(args)}: {done.stderr.strip()}")
        if undo is not None:
            self._made.append(undo)
