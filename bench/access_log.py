"""What the access log costs: GET /users/me requests/s with IM_LOG_LEVEL=info (one access line
per request, to a file) and =warning (no access log), alternating, through uvicorn with wrk.

Needs `wrk` (apt-get install wrk). Run: .venv/bin/python -m bench.access_log [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx

from bench.harness import API, PASSWORD, ServerProcess
from bench.http_me import wrk


def rate(data: Path, level: str, log_format: str) -> float:
    server = ServerProcess(data, IM_LOG_LEVEL=level, IM_LOG_FORMAT=log_format).start()
    try:
        with httpx.Client(base_url=server.url) as c:
            user = {"standard_id": "bench", "name": "B", "password": PASSWORD}
            c.post(f"{API}/users/", json=user)
            token = c.post(
                f"{API}/auth/login/access-token", data={"username": "bench", "password": PASSWORD}
            ).json()["access_token"]
        return wrk(f"{server.url}{API}/users/me", f"Authorization: Bearer {token}")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"warning": [], "info text": [], "info json": []}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(args.rounds):
            runs["warning"].append(rate(Path(d) / "data", "warning", "text"))
            runs["info text"].append(rate(Path(d) / "data", "info", "text"))
            runs["info json"].append(rate(Path(d) / "data", "info", "json"))
    base = max(runs["warning"])
    for name, values in runs.items():
        best = max(values)
        print(
            f"IM_LOG_LEVEL={name:<10} GET /api/v1/users/me {best:>9,.0f} req/s"
            f" (best of {len(values)}; {100 * best / base:.0f}% of no access log)"
        )


if __name__ == "__main__":
    main()
