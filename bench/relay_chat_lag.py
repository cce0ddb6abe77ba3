"""Cascade lag while the chat runs: ``im serve`` (relay inside) under paced HTTP message sends.

50 senders in one group post ``POST /messages/text`` through ``wrk`` (50 keep-alive connections,
each pausing ``1000 * conns / rate - latency`` ms after a response: about ``--rate`` messages/s
if the server keeps up; the achieved rate is printed), while a consumer bound to
``conversation.message_sent.*`` measures, per message, the time from the command handler's
``at`` to its arrival at the consumer: commit, relay, confirm, broker, delivery.

Needs ``wrk`` and RabbitMQ on 127.0.0.1:5672 (guest/guest); unique exchange and queues, deleted
at the end. Run: .venv/bin/python -m bench.relay_chat_lag [--rate 1000] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import httpx

from bench.harness import API, PASSWORD, ServerProcess

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
LUA = """
local reqs = {}
local n = 0
local i = 0
local pause = 0
init = function(args)
  pause = tonumber(args[2])
  local f = io.open(args[1], "r")
  for line in f:lines() do
    local token, body = line:match("([^\\t]+)\\t(.*)")
    n = n + 1
    reqs[n] = {token, body}
  end
  f:close()
  i = math.random(n)
end
delay = function()
  return pause
end
request = function()
  i = (i % n) + 1
  local r = reqs[i]
  return wrk.format("POST", "/api/v1/messages/text",
    {["Authorization"] = "Bearer " .. r[1], ["Content-Type"] = "application/json"}, r[2])
end
"""


def setup(c: httpx.Client) -> tuple[int, list[str]]:
    tokens: list[str] = []
    ids: list[int] = []
    tag = uuid.uuid4().hex[:6]
    for k in range(50):
        sid = f"lag{tag}{k}"
        r = c.post(f"{API}/users/", json={"standard_id": sid, "name": sid, "password": PASSWORD})
        ids.append(r.json()["id"])
        form = {"username": sid, "password": PASSWORD}
        tokens.append(c.post(f"{API}/auth/login/access-token", data=form).json()["access_token"])
    body = {"name": "lag bench", "member_ids": ids[1:]}
    auth = {"Authorization": f"Bearer {tokens[0]}"}
    gid = c.post(f"{API}/conversations/group", json=body, headers=auth).json()["id"]
    return int(gid), tokens


async def main(args: argparse.Namespace) -> None:
    name = f"bench.lag.{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(AMQP)
    ch = await conn.channel()
    exchange = await ch.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await ch.declare_queue(name + ".q", exclusive=True)
    await queue.bind(exchange, "conversation.message_sent.*")
    lags: list[float] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        lags.append(time.time() - json.loads(message.body)["data"]["at"])

    await queue.consume(on_message, no_ack=True)
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess(
            Path(d) / "data",
            IM_AMQP_URL=AMQP,
            IM_AMQP_EXCHANGE=name,
            IM_AMQP_PARTNER_QUEUE=name + ".partner",
        ).start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                gid, tokens = setup(c)
            await asyncio.sleep(1)
            lags.clear()
            script, lines = Path(d) / "send.lua", Path(d) / "send.tsv"
            script.write_text(LUA)
            lines.write_text(
                "".join(
                    f"{t}\t{json.dumps({'conversation_id': gid, 'content': f'hello {k}'})}\n"
                    for k, t in enumerate(tokens)
                )
            )
            conns = 50
            # Each connection waits for its response, then pauses: subtract the expected latency.
            pause = max(0, int(1000 * conns / args.rate - args.latency_ms))
            cmd = ["wrk", "-t1", f"-c{conns}", f"-d{args.seconds}s", "-s", str(script)]
            cmd += [server.url, "--", str(lines), str(pause)]
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            text = out.decode()
            sent = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
            bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
            deadline = time.monotonic() + 30
            while len(lags) < sent - (int(bad.group(1)) if bad else 0):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        finally:
            server.stop()
    q = statistics.quantiles(sorted(lags), n=100)
    print(
        f"chat at {sent / args.seconds:,.0f} messages/s for {args.seconds}s"
        f" ({len(lags):,} MessageSent received, non-2xx: {bad.group(1) if bad else 0}):"
        f" relay lag p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms,"
        f" max {max(lags) * 1000:.1f} ms"
    )
    await exchange.delete()
    for q_name in (name + ".partner", name + ".partner.dlq"):
        await ch.queue_delete(q_name)
    await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="expected HTTP latency")
    asyncio.run(main(parser.parse_args()))
