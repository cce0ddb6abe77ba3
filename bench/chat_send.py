"""Sustained ``POST /messages/text`` through HTTP on ``im serve``: messages/s and latency.

Scenarios, each on a fresh server: 50 senders in one group (``group_sends``); 200 senders spread
over 100 conversations, one single chat per pair (``pair_sends``). The load comes from ``wrk``
(C, one thread, 50 or 200 keep-alive connections) so the client takes as little of the machine's
two cores as possible; each request is sent by a round-robin sender with its own token and a
unique ``client_msg_id``. Each returns the 201s per second, wrk's latency p50/p99 and CPU, and
the messages the conversations' ``last_seq`` says were stored.

Needs ``wrk``. Run: .venv/bin/python -m bench.chat_send [--seconds 15]
[--synchronous full,normal] [--rounds 1]. With several ``IM_SQLITE_SYNCHRONOUS`` settings each
scenario runs on a fresh server per setting (interleaved over ``--rounds``) and a comparison of
the best round of each follows. The server runs with IM_RATE_LIMIT_ENABLED=false (the
per-address write limit would cap one client machine) and IM_PASSWORD_MEMORY_KIB=1024 (only to
register the senders quickly).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import ceilings
from bench.harness import API, ServerProcess
from bench.rt_common import register_many, token

LUA = """
local reqs = {}
local n = 0
local i = 0
init = function(args)
  local f = io.open(args[1], "r")
  for line in f:lines() do
    local token, body = line:match("([^\\t]+)\\t(.*)")
    n = n + 1
    reqs[n] = {token, body}
  end
  f:close()
  i = math.random(n)
end
request = function()
  i = (i % n) + 1
  local r = reqs[i]
  local body = r[2]:gsub("@ID@", tostring(math.random(1, 2^40)))
  return wrk.format("POST", "/api/v1/messages/text",
    {["Authorization"] = "Bearer " .. r[1], ["Content-Type"] = "application/json"}, body)
end
"""


def _register(url: str, n: int) -> list[tuple[int, str]]:
    """``n`` new users and their tokens (issued with the test secret: no login per user)."""
    users = asyncio.run(register_many(url, n, concurrency=8))
    return [(u["id"], token(u["id"])) for u in users]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wrk(url: str, script: Path, lines: Path, conns: int, seconds: int) -> dict[str, Any]:
    """wrk (one thread, ``conns`` connections) sending the requests of ``lines`` round-robin."""
    return ceilings.wrk(url, seconds, conns, script=script, script_args=(str(lines),))


def _body(cid: int, k: int) -> str:
    return json.dumps(
        {"conversation_id": cid, "content": f"bench message {k}", "client_msg_id": f"{k}-@ID@"}
    )


@contextlib.contextmanager
def _server(synchronous: str) -> Iterator[tuple[ServerProcess, Path]]:
    with tempfile.TemporaryDirectory() as d:
        env = {
            "IM_RATE_LIMIT_ENABLED": "false",
            "IM_PASSWORD_MEMORY_KIB": "1024",
            "IM_SQLITE_SYNCHRONOUS": synchronous,
        }
        server = ServerProcess(Path(d) / "data", **env).start()
        (Path(d) / "send.lua").write_text(LUA)
        try:
            yield server, Path(d)
        finally:
            server.stop()


def _figures(r: dict[str, Any], stored: int, conversations: int, sync: str) -> dict[str, Any]:
    ok = r["requests"] - r["non_2xx"]
    return {
        **r,
        "rate": ok / r["elapsed_s"],  # 201s per second
        "unit": "msg/s",
        "stored": stored,
        "senders": r["connections"],
        "conversations": conversations,
        "synchronous": sync,
    }


def group_sends(seconds: int, synchronous: str = "full", senders: int = 50) -> dict[str, Any]:
    """``senders`` members of one group send for ``seconds`` (wrk, one connection each):
    messages/s (201s), wrk's latency p50/p99, and how many the group stored."""
    with _server(synchronous) as (server, d), httpx.Client(base_url=server.url, timeout=60) as c:
        group = _register(server.url, senders)
        body = {"name": "bench", "member_ids": [u for u, _ in group[1:]]}
        gid = c.post(f"{API}/conversations/group", json=body, headers=_auth(group[0][1]))
        gid_ = gid.json()["id"]
        lines = d / "group.tsv"
        lines.write_text("".join(f"{t}\t{_body(gid_, k)}\n" for k, (_, t) in enumerate(group)))
        r = _wrk(server.url, d / "send.lua", lines, senders, seconds)
        last = c.get(f"{API}/conversations/{gid_}", headers=_auth(group[0][1])).json()
        return _figures(r, last["last_seq"] - 1, 1, synchronous)


def pair_sends(seconds: int, synchronous: str = "full", senders: int = 200) -> dict[str, Any]:
    """``senders`` users in ``senders // 2`` single chats (one per pair) send for ``seconds``
    (wrk, one connection each): messages/s (201s), wrk's latency p50/p99, messages stored."""
    with _server(synchronous) as (server, d), httpx.Client(base_url=server.url, timeout=60) as c:
        pairs = _register(server.url, senders)
        rows = []
        cids = []
        for k in range(0, senders, 2):
            (_, t1), (u2, t2) = pairs[k], pairs[k + 1]
            r = c.post(
                f"{API}/conversations/single", json={"target_user_id": u2}, headers=_auth(t1)
            )
            cid = r.json()["id"]
            cids.append((cid, t1))
            rows += [f"{t1}\t{_body(cid, k)}\n", f"{t2}\t{_body(cid, k + 1)}\n"]
        lines = d / "pairs.tsv"
        lines.write_text("".join(rows))
        out = _wrk(server.url, d / "send.lua", lines, senders, seconds)
        stored = sum(
            c.get(f"{API}/conversations/{cid}", headers=_auth(t)).json()["last_seq"]
            for cid, t in cids
        )
        return _figures(out, stored, len(cids), synchronous)


def run(seconds: int, synchronous: str = "full") -> tuple[dict[str, Any], dict[str, Any]]:
    a = group_sends(seconds, synchronous)
    print(f"[{synchronous}] 50 senders, 1 group:           {_fmt(a)}", flush=True)
    b = pair_sends(seconds, synchronous)
    print(f"[{synchronous}] 200 senders, 100 conversations: {_fmt(b)}", flush=True)
    return a, b


def _fmt(r: dict[str, Any]) -> str:
    return (
        f"{r['rate']:,.0f} msg/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
        f"{r['requests']:,} requests, {r['non_2xx']} non-2xx, {r['stored']:,} stored"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--synchronous", default="full", help="comma-separated: full,normal")
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    settings = [s.strip() for s in args.synchronous.split(",") if s.strip()]
    best: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for sync in settings:
            a, b = run(args.seconds, sync)
            prev = best.get(sync)
            best[sync] = [
                x if prev is None or x["rate"] > prev[i]["rate"] else prev[i]
                for i, x in enumerate((a, b))
            ]
    if len(settings) > 1:
        base = settings[-1]
        print(f"\nbest of {args.rounds} round(s), against {base}:")
        for i, name in enumerate(("50 senders, 1 group", "200 senders, 100 conversations")):
            for sync in settings:
                r = best[sync][i]
                delta = r["rate"] / best[base][i]["rate"] - 1
                print(
                    f"  {name:<32} {sync:<7} {r['rate']:8,.0f} msg/s ({delta:+.1%})"
                    f"  p99 {r['p99_ms']:.1f} ms"
                )


if __name__ == "__main__":
    main()
