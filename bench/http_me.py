"""GET /users/me requests/s through uvicorn next to a bare Starlette constant endpoint.

Needs `wrk` (apt-get install wrk). Run: .venv/bin/python -m bench.http_me
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench import ceilings
from bench.harness import API, PASSWORD, ServerProcess
from bench.rt_common import cpu_seconds

DURATION = 10
CONNECTIONS = 50


def wrk(url: str, header: str | None = None) -> float:
    """Requests/s for ``DURATION`` seconds over ``CONNECTIONS`` connections (bench.access_log)."""
    return float(ceilings.wrk(url, DURATION, CONNECTIONS, header)["rate"])


def me(seconds: int, connections: int = CONNECTIONS) -> dict[str, Any]:
    """GET /users/me through a real ``im serve`` with ``wrk``: requests/s, wrk's CPU and the
    server's CPU per request (steadier than requests/s on a shared machine: the same tree
    varies +-20 % in requests/s between server instances here)."""
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess(Path(d) / "data").start()
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
            header = f"Authorization: Bearer {token['access_token']}"
            assert server.proc is not None
            before = cpu_seconds(server.proc.pid)
            result = ceilings.wrk(f"{server.url}{API}/users/me", seconds, connections, header)
            used = cpu_seconds(server.proc.pid) - before
            result["server_cpu_us_per_request"] = 1e6 * used / max(1, result["requests"])
            return result
        finally:
            server.stop()


def main() -> None:
    const = ceilings.bare_starlette(DURATION, CONNECTIONS)["rate"]
    result = me(DURATION)
    rate = result["rate"]
    print(f"bare Starlette constant endpoint: {const:>10,.0f} req/s")
    print(
        f"GET /api/v1/users/me:             {rate:>10,.0f} req/s"
        f"  ({100 * rate / const:.0f}% of bare; target >= 60%)"
        f", server CPU {result['server_cpu_us_per_request']:.0f} us per request"
    )


if __name__ == "__main__":
    main()
