"""Where the kit's pins are: this machine, or a Raspberry Pi running `pigpiod` elsewhere.

`open_pins()` gives a gpiozero pin factory for a location, or raises `GpioUnavailable` with a
reason the user can act on (never a gpiozero or socket exception). It blocks (imports, a TCP
connect bounded by `timeout`): call it off the event loop.

- `LocalPins()`: gpiozero's own choice of factory for this machine (lgpio, RPi.GPIO, pigpio on
  localhost, native — or what `GPIOZERO_PIN_FACTORY` names), made once per process and shared as
  `gpiozero.Device.pin_factory`, as gpiozero does itself. Closing a kit closes its devices
  (releasing its pins), never this shared factory. Tests set `Device.pin_factory` to a
  `MockFactory`, or hand a factory to `Kit.open` directly.
- `RemotePins(host, port)`: gpiozero's `PiGPIOFactory(host=…, port=…)` (the `pigpio` package,
  imported only here), owned by the kit and closed with it. The daemon is probed first with a
  bounded connect: pigpio's own connect has no timeout and prints its failures to stdout.
"""

from __future__ import annotations

from dataclasses import dataclass
import importlib
import logging
import socket
from typing import Any, Final, Literal
import warnings

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_PIGPIO_PORT",
    "GpioUnavailable",
    "LocalPins",
    "OpenedPins",
    "PinLocation",
    "RemotePins",
    "gpio_error",
    "local_factory",
    "open_pins",
    "remote_factory_class",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_PIGPIO_PORT: Final = 8888
CONNECT_TIMEOUT: Final = 3.0
"""Seconds the probe of a remote `pigpiod` may take: one that does not answer by then (a host
that drops packets) counts as unreachable."""

PIGPIO_PACKAGE: Final = "pigpio"


@dataclass(frozen=True, slots=True)
class LocalPins:
    """The pins of the machine Home Assistant runs on."""

    def __str__(self) -> str:
        return "this machine's GPIO"


@dataclass(frozen=True, slots=True)
class RemotePins:
    """The pins of another Raspberry Pi, through its `pigpiod` (remote GPIO)."""

    host: str
    port: int = DEFAULT_PIGPIO_PORT

    def __str__(self) -> str:
        return f"pigpiod at {self.host}:{self.port}"


type PinLocation = LocalPins | RemotePins

type GpioUnavailableReason = Literal[
    "no_gpio",
    "no_access",
    "pin_in_use",
    "pigpio_missing",
    "remote_unknown_host",
    "remote_refused",
    "remote_unreachable",
    "led_driver_missing",
    "failed",
]


class GpioUnavailable(Exception):
    """The kit's pins cannot be used: `reason` for code (a translation key on the HA side),
    `detail` (also `str()`) for people: what was tried and what to check."""

    def __init__(self, reason: GpioUnavailableReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: GpioUnavailableReason = reason
        self.detail = detail


@dataclass(slots=True)
class OpenedPins:
    """A pin factory for a kit, and whether the kit must close it (a remote one it made)."""

    factory: Any
    owned: bool
    location: PinLocation

    def close(self) -> None:
        """Close the factory if it is the kit's own; safe to call twice."""
        factory, self.factory = self.factory, None
        if factory is None or not self.owned:
            return
        try:
            factory.close()
        except Exception:
            _LOGGER.warning("Closing the pin factory for %s failed", self.location, exc_info=True)


# -- seams (tests replace these) -------------------------------------------------------------------


def local_factory() -> Any:
    """gpiozero's process-wide default factory, made on first use (gpiozero's own choice)."""
    from gpiozero import Device

    Device.ensure_pin_factory()
    return Device.pin_factory


def remote_factory_class() -> Any:
    """gpiozero's `PiGPIOFactory`, imported now (it imports `pigpio` at once)."""
    module = importlib.import_module("gpiozero.pins.pigpio")
    return module.PiGPIOFactory


# -- opening -------------------------------------------------------------------------------------


def open_pins(location: PinLocation, *, timeout: float = CONNECT_TIMEOUT) -> OpenedPins:
    """A pin factory for `location`, or GpioUnavailable saying why there is none."""
    if isinstance(location, RemotePins):
        return OpenedPins(_open_remote(location, timeout), owned=True, location=location)
    return OpenedPins(_open_local(), owned=False, location=location)


def _open_local() -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            factory = local_factory()
        except Exception as err:
            tried = "; ".join(str(w.message) for w in caught)
            raise gpio_error(err, LocalPins(), tried=tried) from err
    for warning in caught:
        _LOGGER.debug("Choosing the pin factory: %s", warning.message)
    return factory


def _open_remote(location: RemotePins, timeout: float) -> Any:
    try:
        factory_class = remote_factory_class()
    except ImportError as err:
        raise GpioUnavailable(
            "pigpio_missing",
            f"remote GPIO needs the Python package '{PIGPIO_PACKAGE}', which is not installed "
            f"({err})",
        ) from err
    _probe(location, timeout)
    try:
        return factory_class(host=location.host, port=location.port)
    except Exception as err:
        raise gpio_error(err, location) from err


def _probe(location: RemotePins, timeout: float) -> None:
    """Connect once, bounded, so that a dead address fails here and fast, and clearly."""
    where = f"{location.host}:{location.port}"
    try:
        with socket.create_connection((location.host, location.port), timeout=timeout):
            pass
    except socket.gaierror as err:
        raise GpioUnavailable(
            "remote_unknown_host",
            f"the kit's Pi '{location.host}' is not a known host name ({err.strerror or err})",
        ) from err
    except ConnectionRefusedError as err:
        raise GpioUnavailable(
            "remote_refused",
            f"{where} refused the connection: is pigpiod running on the kit's Pi, on port "
            f"{location.port}, and allowing this machine (pigpiod -n <this address>)?",
        ) from err
    except TimeoutError as err:
        raise GpioUnavailable(
            "remote_unreachable",
            f"{where} did not answer within {timeout:g} s: is the kit's Pi on, on the network, "
            "and is no firewall in between?",
        ) from err
    except OSError as err:
        raise GpioUnavailable(
            "remote_unreachable", f"{where} cannot be reached ({err.strerror or err})"
        ) from err


def gpio_error(err: BaseException, location: PinLocation, *, tried: str = "") -> GpioUnavailable:
    """The GpioUnavailable for what gpiozero (or the OS below it) raised at `location`."""
    from gpiozero.exc import BadPinFactory, GPIOPinInUse, PinUnknownPi

    also = f" ({tried})" if tried else ""
    if isinstance(err, GpioUnavailable):
        return err
    if isinstance(err, BadPinFactory | PinUnknownPi):
        return GpioUnavailable(
            "no_gpio",
            f"{location} is not there: {err}{also}. Is this a Raspberry Pi, with /dev/gpiochip* "
            "visible to Home Assistant? Otherwise use a remote kit (pigpiod on the kit's Pi)",
        )
    if isinstance(err, GPIOPinInUse):
        return GpioUnavailable("pin_in_use", f"{location}: a pin is already in use: {err}")
    if isinstance(err, PermissionError):
        return GpioUnavailable(
            "no_access",
            f"{location} is there but not allowed: {err}. Home Assistant needs access to "
            "/dev/gpiochip* (or /dev/gpiomem)",
        )
    if isinstance(location, RemotePins) and isinstance(err, OSError):
        return GpioUnavailable(
            "remote_unreachable", f"{location} cannot be used: {err.strerror or err}"
        )
    return GpioUnavailable("failed", f"{location} failed: {type(err).__name__}: {err}{also}")
