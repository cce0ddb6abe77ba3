"""The README's quickstart, run as written against a real ``im serve``: every ``curl`` answers 2xx,
the Python listener receives the message, and the documented outputs have the real shape."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
STATUS = re.compile(r"^STATUS (\d{3}) (\w+) (\S+)$", re.M)


def quickstart() -> list[tuple[str, str]]:
    """The fenced blocks (language, text) of the Quickstart section, in order."""
    text = README.read_text()
    start = text.index("\n## Quickstart")
    end = text.index("\n## ", start + 1)
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text[start:end])]


def script(blocks: list[tuple[str, str]], port: int, work: Path) -> tuple[str, int]:
    """One bash script of the shell blocks (the listener started where the README shows it),
    and how many curl commands it runs."""
    lines = [
        "set -euo pipefail",
        f"cd {work}",
        # Every curl also reports its status on stderr; stdout stays what the reader sees.
        "curl() { command curl -w '%{stderr}STATUS %{http_code} %{method} %{url_effective}\\n'"
        ' "$@"; }',
    ]
    curls = 0
    for lang, body in blocks:
        body = body.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        if lang == "sh" and not body.startswith("./im"):
            lines.append(body)
            curls += len(re.findall(r"\bcurl\b", body))
        elif lang == "python":
            (work / "listen.py").write_text(body)
            lines += [
                f'{sys.executable} -u listen.py "$BOB" > frames.txt 2>&1 &',
                "echo $! > listener.pid",
                "for _ in $(seq 200); do grep -q connection_established frames.txt && break;"
                " sleep 0.05; done",
                "grep -q connection_established frames.txt",
            ]
    return "\n".join(lines) + "\n", curls


def json_values(text: str) -> list[object]:
    """Every JSON object or array in ``text`` (curl prints answers without newlines)."""
    decoder = json.JSONDecoder()
    out: list[object] = []
    i = 0
    while (i := next((j for j in range(i, len(text)) if text[j] in "{["), len(text))) < len(text):
        try:
            value, i = decoder.raw_decode(text, i)
            out.append(value)
        except ValueError:
            i += 1
    return out


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    blocks = quickstart()
    assert [lang for lang, _ in blocks].count("python") == 1
    server = ServerProcess(tmp_path / "data").start()
    work = tmp_path / "work"
    work.mkdir()
    try:
        text, curls = script(blocks, server.port, work)
        assert curls >= 9
        env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
        done = subprocess.run(
            ["bash", "-c", text], capture_output=True, text=True, timeout=120, env=env
        )
        statuses = STATUS.findall(done.stderr)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert len(statuses) == curls, done.stderr
        bad = [s for s in statuses if not s[0].startswith("2")]
        assert not bad, bad
        methods = [(m, re.sub(r"^https?://[^/]+", "", url)) for _, m, url in statuses]
        assert ("POST", "/api/v1/messages/text") in methods
        assert ("POST", "/api/v1/files/upload") in methods

        # Each documented output has the keys of a real answer printed by the script.
        printed = json_values(done.stdout)
        for lang, body in blocks:
            if lang == "json":
                shape = set(json.loads(body))
                assert any(isinstance(p, dict) and set(p) == shape for p in printed), body
        assert "hello from alice" in done.stdout  # the download

        frames = work / "frames.txt"
        deadline = time.monotonic() + 10
        while "new_message" not in frames.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = [line.split()[0] for line in frames.read_text().splitlines() if line]
        assert seen[0] == "connection_established", seen
        assert "new_message" in seen and "conversation_created" in seen, seen
    finally:
        pid = work / "listener.pid"
        if pid.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.read_text()), signal.SIGTERM)
        server.stop()
