"""Stand-ins for the kit's hardware that gpiozero's own mocks do not cover."""

from __future__ import annotations

from typing import ClassVar

from gpiozero.pins.mock import MockFactory, MockPWMPin


class FakePiGPIOFactory(MockFactory):
    """Stands in for gpiozero's PiGPIOFactory: constructed as it is, mock pins inside."""

    made: ClassVar[list[FakePiGPIOFactory]] = []

    def __init__(self, host: str | None = None, port: int | None = None) -> None:
        super().__init__(pin_class=MockPWMPin)
        self.host = host
        self.port = port
        self.closed = False
        FakePiGPIOFactory.made.append(self)

    def close(self) -> None:
        self.closed = True
        super().close()
