"""The split deployment behind Debian's nginx on one machine: ``deploy/nginx.conf`` rendered
for local ports in front of ``im commands`` and ``im queries`` processes, the projector (and the
relay when the environment names a broker) on one SQLite data folder. Used by
``tests/integration/test_front_proxy.py`` and ``bench/split_front.py``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.harness import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def render(conf: str, port: int, commands: list[int], queries: list[int], tmp: Path) -> str:
    """``deploy/nginx.conf`` for local ports: upstreams are the local processes (no DNS)."""

    def upstream(name: str, ports: list[int]) -> str:
        servers = " ".join(f"server 127.0.0.1:{p};" for p in ports)
        return f"upstream {name} {{ {servers} keepalive 64; }}"

    conf = re.sub(r"^resolver .*;$", "", conf, flags=re.M)
    conf = re.sub(r"^upstream commands \{.*\}$", upstream("commands", commands), conf, flags=re.M)
    conf = re.sub(r"^upstream queries +\{.*\}$", upstream("queries", queries), conf, flags=re.M)
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
    temp = "\n".join(
        f"    {kind}_temp_path {tmp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
{conf}
}}
"""


class FrontStack:
    def __init__(
        self, tmp: Path, data: Path, env: dict[str, str], commands: int = 2, queries: int = 2
    ) -> None:
        self.tmp = tmp
        env = {k: v for k, v in env.items() if k.startswith("IM_")}
        self.relay = bool(env.get("IM_AMQP_URL"))
        self.commands = [ServerProcess(data, command="commands", **env) for _ in range(commands)]
        self.queries = [ServerProcess(data, command="queries", **env) for _ in range(queries)]
        self.workers: list[subprocess.Popen[bytes]] = []
        self.worker_env = ServerProcess(data, command="projector", **env).env
        self.port = free_port()
        self.nginx: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        for cmd in ("projector", "relay") if self.relay else ("projector",):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gateway.cli", cmd],
                    env=self.worker_env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for p in [*self.commands, *self.queries]:  # started together: bootstrap races too
            p.start(timeout=60)
        conf_dir = self.tmp / "nginx"
        conf_dir.mkdir()
        conf = render(
            (REPO / "deploy" / "nginx.conf").read_text(),
            self.port,
            [p.port for p in self.commands],
            [p.port for p in self.queries],
            conf_dir,
        )
        (conf_dir / "nginx.conf").write_text(conf)
        assert NGINX is not None, "nginx is not installed (apt-get install nginx)"
        base = [NGINX, "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf"), "-e", "stderr"]
        check = subprocess.run([*base, "-t"], capture_output=True)
        assert check.returncode == 0, check.stderr.decode()
        self.nginx = subprocess.Popen(
            [*base, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(10)
        for p in [*self.commands, *self.queries]:
            p.stop()
        for w in self.workers:
            if w.poll() is None:
                w.terminate()
                try:
                    w.wait(10)
                except subprocess.TimeoutExpired:
                    w.kill()
