"""A schemathesis run over /openapi.json finds no server error and no schema violation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import API, PASSWORD, ServerProcess

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data", IM_FIRST_SUPERUSER="root", IM_FIRST_SUPERUSER_PASSWORD=PASSWORD
    ).start()
    try:
        r = httpx.post(
            f"{server.url}{API}/auth/login/access-token",
            data={"username": "root", "password": PASSWORD},
        )
        token = r.json()["access_token"]
        st = Path(sys.executable).with_name("schemathesis")
        result = subprocess.run(
            [
                str(st),
                "run",
                f"{server.url}/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--max-examples",
                "25",
                "--seed",
                "20261125",
                "--generation-database",
                "none",
                "--no-color",
                "--request-timeout",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    finally:
        server.stop()


def test_schemathesis_stateful_chains_find_no_server_error(tmp_path: Path) -> None:
    """The stateful phase alone: schemathesis chains operations through the links it infers
    from the schema (create -> read -> update -> delete with real ids from real responses),
    with ``not_a_server_error`` (and the conformance checks) on every response."""
    server = ServerProcess(
        tmp_path / "data", IM_FIRST_SUPERUSER="root", IM_FIRST_SUPERUSER_PASSWORD=PASSWORD
    ).start()
    try:
        r = httpx.post(
            f"{server.url}{API}/auth/login/access-token",
            data={"username": "root", "password": PASSWORD},
        )
        token = r.json()["access_token"]
        st = Path(sys.executable).with_name("schemathesis")
        result = subprocess.run(
            [
                str(st),
                "run",
                f"{server.url}/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--phases",
                "stateful",
                "--seed",
                "20261201",
                "--generation-database",
                "none",
                "--no-color",
                "--request-timeout",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "✅ Stateful" in result.stdout, result.stdout[-3000:]
        assert "Scenarios:" in result.stdout
    finally:
        server.stop()
