"""PressGate (debounce, lock, rate limit) on an injected clock; gpiozero buttons on
MockFactory pins driven like a person would; the keypad reader."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.buttons import ButtonBoard, KeypadReader, Press, PressGate, make_pin_factory


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_chatter_within_debounce_counts_once():
    clock = FakeClock()
    gate = PressGate(debounce_s=0.3, rate_count=10, rate_window_s=60, clock=clock)
    verdicts = [gate.try_acquire("A")]
    gate.release()
    for _ in range(6):  # contact bounce: edges 5 ms apart
        clock.advance(0.005)
        verdicts.append(gate.try_acquire("A"))
    assert verdicts == ["accepted"] + ["bounce"] * 6
    clock.advance(1.0)
    assert gate.try_acquire("A") == "accepted"


def test_lock_refuses_any_press_until_release():
    clock = FakeClock()
    gate = PressGate(debounce_s=0.1, clock=clock)
    assert gate.try_acquire("A") == "accepted"
    clock.advance(0.5)
    assert gate.try_acquire("B") == "busy"
    clock.advance(0.5)
    assert gate.try_acquire("A") == "busy"
    gate.release()
    clock.advance(0.5)
    assert gate.try_acquire("B") == "accepted"


def test_child_pressing_twenty_times_gets_rate_count_tickets():
    clock = FakeClock()
    gate = PressGate(debounce_s=0.3, rate_count=3, rate_window_s=60, clock=clock)
    accepted = 0
    for _ in range(20):
        clock.advance(1.0)
        if gate.try_acquire("A") == "accepted":
            accepted += 1
            gate.release()
    assert accepted == 3
    assert gate.refused["rate_limited"] == 17
    assert gate.try_acquire("B") == "accepted"  # the limit is per button
    gate.release()
    clock.advance(60)
    assert gate.try_acquire("A") == "accepted"


def test_a_refused_ticket_does_not_count_towards_the_limit():
    clock = FakeClock()
    gate = PressGate(debounce_s=0.3, rate_count=2, rate_window_s=60, clock=clock)
    for _ in range(5):  # the printer is out of paper: nothing is issued
        clock.advance(1.0)
        assert gate.try_acquire("A") == "accepted"
        gate.release("A", issued=False)
    for expected in ("accepted", "accepted", "rate_limited"):
        clock.advance(1.0)
        assert gate.try_acquire("A") == expected
        if expected == "accepted":
            gate.release("A")


def test_gate_rejects_nonsense_limits():
    with pytest.raises(ValueError):
        PressGate(rate_count=0)


def test_mock_pins_press_buttons_and_priority_arms_next_press():
    clock = FakeClock()
    factory = MockFactory()
    presses: list[tuple[Press, str]] = []
    board = ButtonBoard(
        factory, {"a": 17, "b": 27}, lambda press, button: presses.append((press, button)),
        priority_pin=26, priority_category="elderly", priority_window_s=10, clock=clock,
    )
    factory.pin(17).drive_low()
    factory.pin(17).drive_high()
    factory.pin(26).drive_low()
    factory.pin(26).drive_high()
    clock.advance(3)
    factory.pin(27).drive_low()
    factory.pin(27).drive_high()
    factory.pin(26).drive_low()
    factory.pin(26).drive_high()
    clock.advance(11)  # too late: the priority press expired
    factory.pin(17).drive_low()
    factory.pin(17).drive_high()
    assert presses == [
        (Press("a", None), "pin:a"),
        (Press("b", "elderly"), "pin:b"),
        (Press("a", None), "pin:a"),
    ]
    assert board.describe() == ["a: GPIO17", "b: GPIO27", "priority: GPIO26"]
    board.close()


def test_keypad_lines():
    presses: list[Press] = []
    unknown: list[str] = []
    reader = KeypadReader({"a": "svc-a", "2": "svc-b"}, lambda press, button: presses.append(press),
                          priority_category="elderly", on_unknown=unknown.append)
    reader.run(["A\n", "\n", "p a\n", "2\n", "Z\n", "P\n", "q\n", "A\n"])
    assert presses == [Press("svc-a"), Press("svc-a", "elderly"), Press("svc-b")]
    assert unknown == ["Z", "P"]


def test_unknown_pin_factory_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown pin factory"):
        make_pin_factory("magic")
