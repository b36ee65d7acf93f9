"""Nchan, the nginx pub/sub module (Debian's ``libnginx-mod-nchan``), as a peer: a private nginx on a
loopback port with 2 workers, a publisher location and long-poll and EventSource subscriber locations.

The channel is the ``chan`` query argument, so every measurement uses a fresh channel::

    POST /pub?chan=C        (body: the message)     -> 201/202
    GET  /sub/lp?chan=C     long-poll (If-Modified-Since / If-None-Match from the last reply)
    GET  /sub/ev?chan=C     text/event-stream
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.procs import fresh_run_dir
from runner.stack import free_port, http_ok

__all__ = ["MODULE", "NchanServer", "nchan_server"]

MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
WORKERS = 2


@dataclass
class NchanServer:
    port: int
    master: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The worker processes' pids (the master only forks and supervises them)."""
        children = Path(f"/proc/{self.master}/task/{self.master}/children").read_text().split()
        return [int(pid) for pid in children]


def _config(run_dir: Path, port: int) -> str:
    temp = "".join(f"    {kind}_temp_path {run_dir}/tmp/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""load_module {MODULE};
daemon off;
master_process on;
worker_processes {WORKERS};
worker_rlimit_nofile 65536;
pid {run_dir}/nginx.pid;
error_log {run_dir}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
{temp}    # the shared memory all workers keep channels and messages in
    nchan_max_reserved_memory 128M;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        keepalive_requests 1000000;
        keepalive_timeout 120s;
        location = /healthz {{ return 200 "ok"; }}
        location = /pub {{
            nchan_publisher;
            nchan_channel_id $arg_chan;
            nchan_message_buffer_length 10000;
            nchan_message_timeout 10m;
        }}
        location = /sub/lp {{
            nchan_subscriber longpoll;
            nchan_channel_id $arg_chan;
            nchan_subscriber_first_message oldest;
            nchan_subscriber_timeout 60s;
        }}
        location = /sub/ev {{
            nchan_subscriber eventsource;
            nchan_channel_id $arg_chan;
            nchan_subscriber_first_message oldest;
            nchan_subscriber_timeout 0;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nchan_server(run_dir: Path, timeout: float = 30) -> Iterator[NchanServer]:
    """nginx with Nchan in the foreground under ``run_dir`` (its own prefix, pid file, temp paths); stopped after."""
    fresh_run_dir(run_dir, program=MODULE, missing="Nchan is not installed: `make setup` installs Debian's libnginx-mod-nchan")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / "tmp" / kind).mkdir(parents=True)
    port = free_port()
    (run_dir / "nginx.conf").write_text(_config(run_dir, port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    log = open(run_dir / "nginx.out", "wb")
    proc = subprocess.Popen([nginx, "-p", str(run_dir), "-c", str(run_dir / "nginx.conf")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        deadline = time.monotonic() + timeout
        server = NchanServer(port, proc.pid)
        while not (http_ok(port, "/healthz") and len(server.workers()) == WORKERS):
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(run_dir / 'nginx.out').read_text()[-2000:]}"
                                   f"{(run_dir / 'error.log').read_text()[-2000:] if (run_dir / 'error.log').exists() else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError("nginx with Nchan not ready")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master exits
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
