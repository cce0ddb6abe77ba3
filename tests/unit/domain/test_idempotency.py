"""domain/idempotency.py: one stream per (caller, key); request fingerprints."""

from __future__ import annotations

import hashlib
import re

from hypothesis import given
from hypothesis import strategies as st

from domain.idempotency import fingerprint, idempotency_stream

PARTS = st.tuples(
    st.text(max_size=6), st.text(max_size=6), st.text(max_size=6), st.binary(max_size=6)
)


def test_a_key_has_one_stream_per_caller() -> None:
    stream = idempotency_stream("user:1", "key-a")
    assert re.fullmatch(r"idem-[0-9a-f]{40}", stream)
    assert idempotency_stream("user:1", "key-a") == stream
    assert idempotency_stream("user:2", "key-a") != stream
    assert idempotency_stream("user:1", "key-b") != stream


def test_caller_and_key_cannot_run_into_each_other() -> None:
    assert idempotency_stream("user:1", "2x") != idempotency_stream("user:12", "x")


def test_a_fingerprint_is_a_sha256() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint("POST", "/a", "", b"{}"))


@given(PARTS, PARTS)
def test_fingerprints_differ_exactly_when_the_requests_do(
    a: tuple[str, str, str, bytes], b: tuple[str, str, str, bytes]
) -> None:
    """Each part is length-prefixed: moving bytes from one part to the next changes it too."""
    assert (fingerprint(*a) == fingerprint(*b)) == (a == b)


def test_moving_a_boundary_changes_the_fingerprint() -> None:
    assert fingerprint("POST", "/a", "b=1", b"") != fingerprint("POST", "/ab", "=1", b"")
    assert fingerprint("POST", "/a", "", b"x") != fingerprint("POST", "/a", "x", b"")


def test_streams_and_fingerprints_stay_the_same_across_releases() -> None:
    """Records outlive a deployment (24 h): a repeat after an upgrade must find the same stream
    and compare equal, so both are pinned to their construction."""
    digest = hashlib.sha256(b"user:1\0key-a").hexdigest()[:40]
    assert idempotency_stream("user:1", "key-a") == f"idem-{digest}"
    expected = hashlib.sha256()
    for part in (b"POST", b"/api/v1/messages/text", b"a=1", b'{"content":"hi"}'):
        expected.update(len(part).to_bytes(8, "big") + part)
    assert fingerprint("POST", "/api/v1/messages/text", "a=1", b'{"content":"hi"}') == (
        expected.hexdigest()
    )
