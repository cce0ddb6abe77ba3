"""GET /users/me requests/s through uvicorn next to a bare Starlette constant endpoint.

Needs `wrk` (apt-get install wrk). Run: .venv/bin/python -m bench.http_me
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.helpers import API, PASSWORD, ServerProcess, free_port

DURATION = "10s"
CONNECTIONS = "50"


def wrk(url: str, header: str | None = None) -> float:
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}", url]
    if header:
        cmd[1:1] = ["-H", header]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        print(f"  warning: {non2xx.group(1)} non-2xx responses", file=sys.stderr)
    return float(match.group(1))


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess(Path(d) / "data").start()
        port = free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
        )
        try:
            with httpx.Client(base_url=server.url) as c:
                c.post(
                    f"{API}/users/",
                    json={"standard_id": "bench", "name": "B", "password": PASSWORD},
                )
                token = c.post(
                    f"{API}/auth/login/access-token",
                    data={"username": "bench", "password": PASSWORD},
                ).json()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/const")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            header = f"Authorization: Bearer {token['access_token']}"
            me = wrk(f"{server.url}{API}/users/me", header)
            const = wrk(f"http://127.0.0.1:{port}/const")
            print(f"bare Starlette constant endpoint: {const:>10,.0f} req/s")
            print(
                f"GET /api/v1/users/me:             {me:>10,.0f} req/s"
                f"  ({100 * me / const:.0f}% of bare; target >= 60%)"
            )
        finally:
            server.stop()
            bare.terminate()
            bare.wait()


if __name__ == "__main__":
    main()
