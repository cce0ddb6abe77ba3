"""The AsyncAPI document for non-default settings: still valid, and it says what this server
publishes and where."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from gateway.asyncapi import build_asyncapi
from gateway.settings import load_settings

SPEC = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "asyncapi-3.0.0.schema.json").read_text()
)


def test_public_urls_vhost_and_legacy_only() -> None:
    settings = load_settings(
        {
            "IM_PUBLIC_BASE_URL": "https://chat.example.com",
            "IM_AMQP_URL": "amqp://im:secret-pw@rabbit:5672/prod",
            "IM_AMQP_PUBLIC_URL": "amqps://partner:partner-pw@mq.example.com/prod",
            "IM_AMQP_EXCHANGE": "im.prod",
            "IM_CASCADE_FORMAT": "legacy",
        }
    )
    doc = build_asyncapi(settings, "9.9.9")
    assert not list(jsonschema.Draft7Validator(SPEC).iter_errors(doc))
    assert doc["servers"]["api"] == {
        **doc["servers"]["api"],
        "host": "chat.example.com",
        "protocol": "wss",
    }
    broker = doc["servers"]["broker"]
    assert (broker["host"], broker["protocol"], broker["pathname"]) == (
        "mq.example.com:5671",
        "amqps",
        "/prod",
    )
    text = json.dumps(doc)
    assert "secret-pw" not in text and "partner-pw" not in text
    channel = doc["channels"]["cascadeEvents"]
    assert channel["bindings"]["amqp"]["exchange"]["name"] == "im.prod"
    assert "NOT PUBLISHED" in channel["description"]
    default = build_asyncapi(load_settings({}), "9.9.9")
    assert "NOT PUBLISHED" not in default["channels"]["cascadeEvents"]["description"]
    assert "off" in default["servers"]["broker"]["description"]
