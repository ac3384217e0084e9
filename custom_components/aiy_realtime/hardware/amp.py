"""The kit's amplifier enable pin: on only while a session may play audio (no hiss, no power
wasted in between). Writes are blocking pin writes (a network round trip on a remote kit): the
kit makes them from its output thread."""

from __future__ import annotations

from typing import Any

__all__ = ["Amplifier"]


class Amplifier:
    """The amplifier's enable on `pin` (active high unless told otherwise); off at first."""

    def __init__(self, pin: int, *, factory: Any, active_high: bool = True) -> None:
        from gpiozero import DigitalOutputDevice

        self._device: Any = DigitalOutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=factory
        )

    @property
    def is_on(self) -> bool:
        device = self._device
        return device is not None and bool(device.value)

    def on(self) -> None:
        if self._device is not None:
            self._device.on()

    def off(self) -> None:
        if self._device is not None:
            self._device.off()

    def close(self) -> None:
        """Off, and the pin released; safe to call twice."""
        device, self._device = self._device, None
        if device is None:
            return
        try:
            device.off()
        finally:
            device.close()
