"""The previous system's protocol shapes: inbound decoding, legacy type integers, times."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import msgspec
import pytest

from domain import legacy_cascade as lc


def test_inbound_commands_decode_by_cmd() -> None:
    cmd = lc.decode_inbound(
        b'{"cmd": "user_import", "token": "Tricolor<x>",'
        b' "data": [{"standard_id": "s1", "name": "N", "sex": 0, "platform_id": "p"}]}'
    )
    assert cmd == lc.UserImport([lc.ImportedUser("s1", "N", 0, "p")])
    cmd = lc.decode_inbound(
        b'{"cmd": "update_water_mark", "data": {"id": 3, "mark": true, "transparency": 50,'
        b' "name": false, "phone": true, "date": false}}'
    )
    assert isinstance(cmd, lc.UpdateWaterMark) and cmd.data.transparency == 50


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"cmd": "msg", "data": {}}',
        b'{"data": []}',
        b'{"cmd": "user_import", "data": [{"standard_id": "", "name": "x"}]}',
        b'{"cmd": "user_status_update", "data": [{"standard_id": "a", "online": 2}]}',
        b'{"cmd": "update_water_mark", "data": {"id": 1, "mark": true, "transparency": 101,'
        b' "name": true, "phone": true, "date": true}}',
        b'{"cmd": "platform_mq_update", "data": [{"platform_id": "p", "mq_host": "h",'
        b' "mq_port": 0}]}',
    ],
)
def test_bad_inbound_messages_say_why(body: bytes) -> None:
    with pytest.raises(msgspec.MsgspecError) as err:
        lc.decode_inbound(body)
    assert str(err.value)


@pytest.mark.parametrize(
    ("message_type", "mime", "code"),
    [
        ("text", None, 0),
        ("location", None, 0),
        ("audio", "audio/ogg", 1),
        ("image", "image/png", 2),
        ("file", "text/plain; charset=utf-8", 3),
        ("file", "application/pdf", 4),
        ("file", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 5),
        ("file", "application/vnd.ms-excel", 6),
        ("file", "application/vnd.ms-powerpoint", 7),
        ("file", "audio/mpeg", 8),
        ("video", "video/mp4", 9),
        ("file", "video/mp4", 9),
        ("file", "application/zip", 10),
        ("file", "application/octet-stream", 11),
        ("file", None, 11),
    ],
)
def test_legacy_type_integers(message_type: str, mime: str | None, code: int) -> None:
    assert lc.legacy_type(message_type, mime) == code


def test_create_time_is_fourteen_digits_in_the_zone() -> None:
    ts = dt.datetime(2026, 12, 1, 16, 5, 9, tzinfo=dt.UTC).timestamp()
    assert lc.create_time(ts, dt.UTC) == "20261201160509"
    assert lc.create_time(ts, zoneinfo.ZoneInfo("Asia/Shanghai")) == "20261202000509"
