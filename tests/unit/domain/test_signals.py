"""domain/signals.py: the in-process signal bus (subscribe, unsubscribe, fan-out)."""

from __future__ import annotations

from domain.signals import Signal, SignalBus, StatusChanged, Typing

TYPING = Typing(conversation_id=1, user_id=2, is_typing=True, recipients=(3, 4))
ONLINE = StatusChanged(user_id=2, is_online=True)


def test_every_listener_gets_every_signal_in_order() -> None:
    bus = SignalBus()
    a: list[Signal] = []
    b: list[Signal] = []
    bus.subscribe(a.append)
    bus.subscribe(b.append)
    bus.publish(TYPING)
    bus.publish(ONLINE)
    assert a == b == [TYPING, ONLINE]


def test_an_unsubscribed_listener_gets_nothing_more() -> None:
    bus = SignalBus()
    kept: list[Signal] = []
    gone: list[Signal] = []
    bus.subscribe(kept.append)
    unsubscribe = bus.subscribe(gone.append)
    bus.publish(TYPING)
    unsubscribe()
    bus.publish(ONLINE)
    assert kept == [TYPING, ONLINE]
    assert gone == [TYPING]


def test_a_listener_may_unsubscribe_while_a_signal_is_delivered() -> None:
    bus = SignalBus()
    seen: list[str] = []

    def first(signal: Signal) -> None:
        seen.append("first")
        unsubscribe()

    unsubscribe = bus.subscribe(first)
    bus.subscribe(lambda signal: seen.append("second"))
    bus.publish(TYPING)
    bus.publish(ONLINE)
    assert seen == ["first", "second", "second"]


async def test_the_local_bus_starts_and_stops_with_nothing_to_connect() -> None:
    bus = SignalBus()
    seen: list[Signal] = []
    bus.subscribe(seen.append)
    await bus.start()
    bus.publish(ONLINE)
    await bus.stop()
    assert seen == [ONLINE]
