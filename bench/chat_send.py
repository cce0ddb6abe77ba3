"""Sustained ``POST /messages/text`` through HTTP on ``im serve``: messages/s and latency.

Scenarios: 50 senders in one group; 200 senders spread over 100 conversations (one single chat
per pair). The load comes from ``wrk`` (C, one thread, 50 or 200 keep-alive connections) so the
client takes as little of the machine's two cores as possible; each request is sent by a
round-robin sender with its own token and a unique ``client_msg_id``. Afterwards the
conversations' ``last_seq`` is checked against the 201s wrk counted.

Needs ``wrk``. Run: .venv/bin/python -m bench.chat_send [--seconds 15]
[--synchronous full,normal] [--rounds 1]. With several ``IM_SQLITE_SYNCHRONOUS`` settings each
scenario runs on a fresh server per setting (interleaved over ``--rounds``) and a comparison of
the best round of each follows. The server runs with IM_RATE_LIMIT_ENABLED=false (the
per-address write limit would cap one client machine) and IM_PASSWORD_MEMORY_KIB=1024 (only to
register the senders quickly).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.harness import API, PASSWORD, ServerProcess

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


def _register(c: httpx.Client, n: int, tag: str) -> list[tuple[int, str]]:
    out = []
    for k in range(n):
        sid = f"{tag}{k}"
        r = c.post(f"{API}/users/", json={"standard_id": sid, "name": sid, "password": PASSWORD})
        assert r.status_code == 201, r.text
        t = c.post(
            f"{API}/auth/login/access-token", data={"username": sid, "password": PASSWORD}
        ).json()["access_token"]
        out.append((r.json()["id"], t))
    return out


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wrk(url: str, script: Path, lines: Path, conns: int, seconds: int) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    out = subprocess.run([*cmd, "--", str(lines)], capture_output=True, text=True, check=True)
    text = out.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", text))
    return {
        "requests": total,
        "per_second": rate,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "p50": lat.get("50"),
        "p99": lat.get("99"),
    }


def _body(cid: int, k: int) -> str:
    return json.dumps(
        {"conversation_id": cid, "content": f"bench message {k}", "client_msg_id": f"{k}-@ID@"}
    )


def run(seconds: int, synchronous: str = "full") -> tuple[dict[str, Any], dict[str, Any]]:
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        env = {
            "IM_RATE_LIMIT_ENABLED": "false",
            "IM_PASSWORD_MEMORY_KIB": "1024",
            "IM_SQLITE_SYNCHRONOUS": synchronous,
        }
        server = ServerProcess(data, **env).start()
        script = Path(d) / "send.lua"
        script.write_text(LUA)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                group = _register(c, 50, "g")
                body = {"name": "bench", "member_ids": [u for u, _ in group[1:]]}
                gid = c.post(f"{API}/conversations/group", json=body, headers=_auth(group[0][1]))
                gid_ = gid.json()["id"]
                lines = Path(d) / "group.tsv"
                lines.write_text(
                    "".join(f"{t}\t{_body(gid_, k)}\n" for k, (_, t) in enumerate(group))
                )
                a = _wrk(server.url, script, lines, 50, seconds)
                last = c.get(f"{API}/conversations/{gid_}", headers=_auth(group[0][1])).json()
                a["stored"] = last["last_seq"] - 1
                print(f"[{synchronous}] 50 senders, 1 group:           {_fmt(a)}", flush=True)

                pairs = _register(c, 200, "p")
                rows = []
                cids = []
                for k in range(0, 200, 2):
                    (_, t1), (u2, t2) = pairs[k], pairs[k + 1]
                    r = c.post(
                        f"{API}/conversations/single",
                        json={"target_user_id": u2},
                        headers=_auth(t1),
                    )
                    cid = r.json()["id"]
                    cids.append((cid, t1))
                    rows += [f"{t1}\t{_body(cid, k)}\n", f"{t2}\t{_body(cid, k + 1)}\n"]
                lines = Path(d) / "pairs.tsv"
                lines.write_text("".join(rows))
                b = _wrk(server.url, script, lines, 200, seconds)
                b["stored"] = sum(
                    c.get(f"{API}/conversations/{cid}", headers=_auth(t)).json()["last_seq"]
                    for cid, t in cids
                )
                print(f"[{synchronous}] 200 senders, 100 conversations: {_fmt(b)}", flush=True)
        finally:
            server.stop()
    return a, b


def _fmt(r: dict[str, Any]) -> str:
    return (
        f"{r['per_second']:,.0f} msg/s, p50 {r['p50']}, p99 {r['p99']}, "
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
                x if prev is None or x["per_second"] > prev[i]["per_second"] else prev[i]
                for i, x in enumerate((a, b))
            ]
    if len(settings) > 1:
        base = settings[-1]
        print(f"\nbest of {args.rounds} round(s), against {base}:")
        for i, name in enumerate(("50 senders, 1 group", "200 senders, 100 conversations")):
            for sync in settings:
                r = best[sync][i]
                delta = r["per_second"] / best[base][i]["per_second"] - 1
                print(
                    f"  {name:<32} {sync:<7} {r['per_second']:8,.0f} msg/s ({delta:+.1%})"
                    f"  p99 {r['p99']}"
                )


if __name__ == "__main__":
    main()
