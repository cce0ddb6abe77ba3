"""Sends over HTTP, compared between source trees by the server's CPU time per message.

On a shared machine messages/s swings with everyone else's load; the CPU seconds the server
process spends per stored message swing much less. For each tree (a checkout of this repository,
e.g. ``git archive`` of two commits), rounds alternate: start ``im serve`` from that tree, send
from 50 users into one group with ``wrk`` (50 connections) for ``--seconds``, and read the server
process's user+system time from ``/proc`` before and after.

Needs ``wrk``. Run: .venv/bin/python -m bench.send_cpu --tree /tmp/before --tree /tmp/after
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import httpx

from bench.chat_send import LUA, _auth, _body, _register, _wrk
from bench.harness import API, ServerProcess


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(tree: str, seconds: int) -> tuple[float, float]:
    """(messages/s, server CPU ms per message) for one run of ``tree``."""
    os.environ["PYTHONPATH"] = tree
    here = os.getcwd()
    os.chdir(tree)  # ``python -m`` puts the working directory first on the path
    try:
        return _one(tree, seconds)
    finally:
        os.chdir(here)


def _one(tree: str, seconds: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        env = {"IM_RATE_LIMIT_ENABLED": "false", "IM_PASSWORD_MEMORY_KIB": "1024"}
        server = ServerProcess(Path(d) / "data", **env).start()
        script = Path(d) / "send.lua"
        script.write_text(LUA)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                group = _register(server.url, 50)
                body = {"name": "bench", "member_ids": [u for u, _ in group[1:]]}
                r = c.post(f"{API}/conversations/group", json=body, headers=_auth(group[0][1]))
                gid = r.json()["id"]
                lines = Path(d) / "group.tsv"
                lines.write_text(
                    "".join(f"{t}\t{_body(gid, k)}\n" for k, (_, t) in enumerate(group))
                )
                assert server.proc is not None
                before = _cpu(server.proc.pid)
                _wrk(server.url, script, lines, 50, seconds)
                after = _cpu(server.proc.pid)
                conv = c.get(f"{API}/conversations/{gid}", headers=_auth(group[0][1])).json()
                stored = conv["last_seq"] - 1
        finally:
            server.stop()
    return stored / seconds, 1000 * (after - before) / stored


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tree", action="append", required=True, help="a source tree to compare")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=10)
    args = p.parse_args()
    results: dict[str, list[tuple[float, float]]] = {t: [] for t in args.tree}
    for i in range(args.rounds):
        for tree in args.tree:
            rate, ms = one(tree, args.seconds)
            load = os.getloadavg()[0]
            print(f"round {i + 1} {tree}: {rate:,.0f} msg/s, {ms:.3f} CPU ms/message", end="")
            print(f" (load {load:.1f})", flush=True)
            results[tree].append((rate, ms))
    for tree, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        ms = statistics.median(m for _, m in runs)
        print(f"median {tree}: {rate:,.0f} msg/s, {ms:.3f} CPU ms/message")


if __name__ == "__main__":
    main()
