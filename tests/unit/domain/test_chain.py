"""domain/chain.py: sealing events into per-stream hash chains, and verifying the chains."""

from __future__ import annotations

import json
from collections.abc import Iterator
from hashlib import sha256

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.chain import GENESIS, Break, ChainState, digest_of, last_hash, seal, unseal

META = b'{"schema_version":1,"actor":{"kind":"user","id":7}}'
Stored = tuple[str, str, bytes, bytes]  # (stream, type, data, metadata as stored)


def chained(stream: str, events: list[tuple[str, bytes, bytes]]) -> Iterator[Stored]:
    """The events of one stream as the store writes them: each sealed on the one before."""
    prev = GENESIS
    for type_name, data, metadata in events:
        sealed, prev = seal(prev, type_name, data, metadata)
        yield stream, type_name, data, sealed


def walk(log: list[Stored]) -> ChainState:
    state = ChainState()
    for stream, type_name, data, metadata in log:
        state.check(stream, type_name, data, metadata)
    return state


def log_of(n: int, stream: str = "user-1") -> list[Stored]:
    data = [b'{"stream":"%s","n":%d}' % (stream.encode(), i) for i in range(n)]
    return list(chained(stream, [(f"T{i}", d, META) for i, d in enumerate(data)]))


@pytest.mark.parametrize("metadata", [b"", b"{}", META])
def test_sealing_appends_prev_hash_and_hash_last(metadata: bytes) -> None:
    sealed, digest = seal(GENESIS, "UserRenamed", b'{"name":"x"}', metadata)
    members = json.loads(sealed)
    assert list(members)[-2:] == ["prev_hash", "hash"]
    assert members == {
        **json.loads(metadata or b"{}"),
        "prev_hash": GENESIS.decode(),
        "hash": digest.decode(),
    }
    assert sealed.startswith(metadata[:-1])


def test_the_hash_covers_prev_type_data_and_metadata() -> None:
    sealed, digest = seal(GENESIS, "T", b"{}", META)
    found = unseal(sealed)
    assert found is not None
    prev, stored, unsealed = found
    assert (prev, stored) == (GENESIS, digest)
    assert unsealed == sealed[: sealed.rindex(b',"hash"')] + b"}"
    assert digest == sha256(GENESIS + b"T" + b"{}" + unsealed).hexdigest().encode()
    assert digest_of(prev, "T", b"{}", unsealed) == digest
    for other in (
        seal(b"1" * 64, "T", b"{}", META),
        seal(GENESIS, "U", b"{}", META),
        seal(GENESIS, "T", b"[]", META),
        seal(GENESIS, "T", b"{}", META.replace(b"7", b"8")),
    ):
        assert other[1] != digest


LONG_META = (
    b'{"schema_version":1,"actor":{"kind":"partner","id":"a-partner-with-a-long-name"},'
    b'"$correlationId":"0190c0de-0000-7000-8000-000000000001",'
    b'"$causationId":"0190c0de-0000-7000-8000-000000000002"}'
)


def test_unchained_metadata_has_no_hash() -> None:
    assert len(LONG_META) > 160  # as long as a sealed tail: the markers decide, not the length
    for metadata in (b"", b"{}", META, META[:-1] + b',"prev_hash":"00"}', LONG_META):
        assert unseal(metadata) is None
        assert last_hash(metadata) is None
    sealed, digest = seal(GENESIS, "T", b"", META)
    assert last_hash(sealed) == digest


@given(
    st.lists(
        st.tuples(st.sampled_from(["a-1", "b-2", "c-3"]), st.booleans(), st.binary(max_size=12)),
        max_size=40,
    )
)
def test_any_interleaving_of_intact_chains_verifies(
    writes: list[tuple[str, bool, bytes]],
) -> None:
    """Streams written in any order, each with an unchained prefix then a chain, verify; the
    state ends on each stream's last hash and digests every hash in the order walked."""
    heads: dict[str, bytes] = {}
    log: list[Stored] = []
    for stream, sealed, data in writes:
        if sealed or stream in heads:  # once a stream is chained, it stays chained
            metadata, heads[stream] = seal(heads.get(stream, GENESIS), "T", data, META)
        else:
            metadata = META
        log.append((stream, "T", data, metadata))
    state = walk(log)
    assert state.checked == len(log)
    assert state.unchained == sum(1 for *_, m in log if unseal(m) is None)
    assert state.last == heads
    hashes = [last_hash(m) for *_, m in log]
    assert state.log.hexdigest() == sha256(b"".join(h for h in hashes if h)).hexdigest()


def test_a_fresh_state_has_checked_nothing() -> None:
    state = ChainState()
    assert (state.checked, state.unchained, state.last) == (0, 0, {})
    assert state.log.hexdigest() == sha256().hexdigest()


def reason_of(log: list[Stored]) -> str:
    with pytest.raises(Break) as broken:
        walk(log)
    assert str(broken.value) == broken.value.reason
    return broken.value.reason


@pytest.mark.parametrize("index", [0, 2, 4])
def test_changed_data_breaks_the_chain(index: int) -> None:
    log = log_of(5)
    stream, type_name, _, metadata = log[index]
    log[index] = (stream, type_name, b'{"n":-1}', metadata)
    assert reason_of(log) == "hash does not match the event's content"


def test_a_changed_type_breaks_the_chain() -> None:
    log = log_of(3)
    stream, _, data, metadata = log[1]
    log[1] = (stream, "Other", data, metadata)
    assert reason_of(log) == "hash does not match the event's content"


def test_changed_metadata_breaks_the_chain() -> None:
    log = log_of(3)
    stream, type_name, data, metadata = log[1]
    log[1] = (stream, type_name, data, metadata.replace(b'"id":7', b'"id":8'))
    assert reason_of(log) == "hash does not match the event's content"


def test_a_replaced_hash_breaks_the_chain() -> None:
    log = log_of(3)
    stream, type_name, data, metadata = log[2]
    log[2] = (stream, type_name, data, metadata[:-66] + b"f" * 64 + b'"}')
    assert reason_of(log) == "hash does not match the event's content"


def test_a_removed_event_breaks_the_chain() -> None:
    log = log_of(4)
    del log[1]
    assert reason_of(log) == "prev_hash is not the hash of the stream's previous event"


def test_swapped_events_break_the_chain() -> None:
    log = log_of(4)
    log[1], log[2] = log[2], log[1]
    assert reason_of(log) == "prev_hash is not the hash of the stream's previous event"


def test_a_long_unchained_prefix_verifies() -> None:
    unchained = [("user-1", "T", b"{}", LONG_META), ("user-1", "T", b"[]", LONG_META)]
    chained_tail = list(chained("user-1", [("T", b"{}", LONG_META)]))
    state = walk(unchained + chained_tail)
    assert (state.checked, state.unchained) == (3, 2)
    assert state.last == {"user-1": last_hash(chained_tail[0][3])}


def test_a_first_chained_event_links_to_genesis() -> None:
    (event,) = chained("user-1", [("T", b"{}", META)])
    sealed, _ = seal(b"1" * 64, "T", b"{}", META)
    assert reason_of([(event[0], "T", b"{}", sealed)]).startswith("prev_hash is not")
    assert walk([event]).checked == 1


def test_a_stripped_hash_after_chained_events_breaks_the_chain() -> None:
    log = log_of(3)
    stream, type_name, data, _ = log[2]
    log[2] = (stream, type_name, data, META)
    assert reason_of(log) == "event has no hash but earlier events of its stream are chained"


def test_a_chain_does_not_reach_into_another_stream() -> None:
    a, b = log_of(2, "user-1"), log_of(2, "user-2")
    state = walk([a[0], b[0], b[1], a[1]])
    assert state.checked == 4 and state.unchained == 0
    assert state.last == {"user-1": last_hash(a[1][3]), "user-2": last_hash(b[1][3])}
    with pytest.raises(Break, match="prev_hash"):
        walk([a[0], ("user-1", *b[1][1:])])  # user-2's second event filed under user-1
