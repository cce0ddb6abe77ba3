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


def test_status_and_platform_commands_decode() -> None:
    cmd = lc.decode_inbound(
        b'{"cmd": "user_status_update", "data": [{"standard_id": "s1", "online": 1, "type": 2,'
        b' "token": "t"}]}'
    )
    assert cmd == lc.UserStatusUpdate([lc.UserStatus("s1", 1, None, 2, "t")])
    cmd = lc.decode_inbound(
        b'{"cmd": "platform_mq_update", "data": [{"platform_id": "p", "mq_host": "h",'
        b' "mq_port": 5672}]}'
    )
    assert cmd == lc.PlatformMqUpdate([lc.PlatformMq("p", "h", 5672)])
    assert cmd.data[0].mq_vhost == "/" and cmd.data[0].mq_password == ""


def test_a_command_carries_at_most_a_thousand_items() -> None:
    item = b'{"standard_id": "s", "name": "N"}'

    def user_import(count: int) -> bytes:
        return b'{"cmd": "user_import", "data": [%s]}' % b",".join([item] * count)

    cmd = lc.decode_inbound(user_import(lc.MAX_ITEMS))
    assert isinstance(cmd, lc.UserImport) and len(cmd.data) == lc.MAX_ITEMS
    with pytest.raises(msgspec.ValidationError):
        lc.decode_inbound(user_import(lc.MAX_ITEMS + 1))


@pytest.mark.parametrize(
    ("message_type", "mime", "code"),
    [
        ("file", "APPLICATION/PDF", 4),
        ("file", " text/csv ; charset=utf-8", 3),
        ("file", "image/x-unknown", 2),
        ("file", "", 11),
        ("system", None, 0),
    ],
)
def test_legacy_types_ignore_case_and_parameters(
    message_type: str, mime: str | None, code: int
) -> None:
    assert lc.legacy_type(message_type, mime) == code


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("audio/ogg", 1),
        ("IMAGE/PNG", 2),
        ("video/mp4", 3),
        ("application/pdf", None),
        ("", None),
        (None, None),
    ],
)
def test_media_types_of_attachments(mime: str | None, kind: int | None) -> None:
    assert lc.media_type(mime) == kind


def test_bodies_and_streams() -> None:
    assert lc.body("msg", {"a": 1}) == b'{"cmd":"msg","data":{"a":1}}'
    assert lc.body("broadcast", [lc.Profile(1, 2, "n", "/p")]) == (
        b'{"cmd":"broadcast","data":[{"id":1,"type":2,"name":"n","path":"/p","audio_duration":0}]}'
    )
    assert lc.watermark_stream(3) == "watermark-3"
    assert lc.platform_stream("p1") == "platform-p1"
