"""Status lights on MockFactory pins."""

from __future__ import annotations

import time

from gpiozero.pins.mock import MockFactory

from hardware.leds import StatusLights


def test_lights_follow_state_and_refusal_blinks_then_restores_fault():
    factory = MockFactory()
    lights = StatusLights(factory, ready=5, printing=6, fault=13, buzzer=19, beep=True)
    lights.show("ready")
    assert (factory.pin(5).state, factory.pin(6).state, factory.pin(13).state) == (True, False, False)
    lights.show("printing")
    assert (factory.pin(5).state, factory.pin(6).state, factory.pin(13).state) == (False, True, False)
    lights.show("fault")
    factory.pin(13).clear_states()
    factory.pin(19).clear_states()
    lights.signal_refusal(times=2)
    time.sleep(1.0)
    fault_changes = [s.state for s in factory.pin(13).states]
    assert fault_changes.count(True) >= 3  # two blinks, then lit again
    assert factory.pin(13).state is True
    assert [s.state for s in factory.pin(19).states].count(True) == 2  # two beeps
    lights.close()
