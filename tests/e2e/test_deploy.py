"""deploy/: the Grafana dashboard and the Prometheus alert rules are valid and name only metrics
the server exports; the compose monitoring profile mounts files that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.helpers import API, new_user, wait_until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
METRIC = re.compile(r"\b(im_[a-z0-9_]+|up)\b(?!\s*\()")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total", "_created")}


async def exported(client: httpx.AsyncClient) -> dict[str, str]:
    """Metric family -> type, from the server's own /metrics."""
    text = (await client.get("/metrics")).text
    return {m[0]: m[1] for m in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)}


def known(name: str, families: dict[str, str]) -> bool:
    if name == "up" or name in families:  # ``up``: Prometheus's own per-target metric
        return True
    for family, kind in families.items():
        if any(name == family + s for s in SUFFIXES.get(kind, ())):
            return True
    return False


def dashboard_exprs() -> list[str]:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "im.json").read_text())
    assert dash["uid"] and dash["panels"]
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert all(p["datasource"]["uid"] == "prometheus" for p in dash["panels"])
    return exprs


def alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    out: list[dict[str, Any]] = [r for g in rules["groups"] for r in g["rules"]]
    for rule in out:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
    return out


async def test_dashboard_and_alerts_name_only_exported_metrics(
    client: httpx.AsyncClient,
) -> None:
    families = await exported(client)
    exprs = dashboard_exprs() + [r["expr"] for r in alert_rules()]
    named = {m for e in exprs for m in METRIC.findall(e)}
    unknown = sorted(n for n in named if not known(n, families))
    assert not unknown, unknown
    # What the issue asks the dashboard and alerts to cover.
    wanted = [
        "im_http_requests_total",
        "im_http_request_seconds_bucket",
        "im_push_latency_seconds_bucket",
        "im_ws_connections",
        "im_projector_lag_events",
        "im_follower_lag_events",
        "im_relay_lag_events",
        "im_event_store_append_seconds_bucket",
    ]
    assert set(wanted) <= named
    alerted = " ".join(r["expr"] for r in alert_rules())
    assert "lag_events" in alerted and 'status=~"5.."' in alerted and "im_ready" in alerted


def test_monitoring_profile_mounts_existing_files() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]
    for name in ("prometheus", "grafana"):
        service = compose["services"][name]
        assert service["profiles"] == ["monitoring"]
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume


async def test_new_metrics_move(client: httpx.AsyncClient) -> None:
    _, headers = await new_user(client)
    other, _ = await new_user(client)
    body = {"name": "metrics", "member_ids": [other["id"]]}
    r = await client.post(f"{API}/conversations/group", json=body, headers=headers)
    assert r.status_code == 201

    async def observed() -> bool:
        text = (await client.get("/metrics")).text
        counts = dict(re.findall(r"^(im_\w+_count) (\S+)$", text, re.M))
        return (
            float(counts.get("im_event_store_append_seconds_count", 0)) > 0
            and float(counts.get("im_push_latency_seconds_count", 0)) > 0
        )

    await wait_until(observed)
    text = (await client.get("/metrics")).text
    assert "im_ready 1.0" in text and "im_ws_connections 0.0" in text
    assert re.search(r'^im_follower_lag_events\{follower="pusher"\} \d', text, re.M)
