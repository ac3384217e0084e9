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
  bounded connect and one bounded command: pigpio's own connect has no timeout and prints its
  failures to stdout. A factory pigpio finishes after the open gave up is closed, not leaked
  (one it never finishes, a daemon stalling after the probe, holds its thread: pigpio's
  connect has no timeout).

A remote factory is watched once open (`OpenedPins.check()`): pigpio notices nothing itself. A
pigpiod that goes away leaves its notify thread spinning on a closed socket and its commands
failing; a Pi that loses power leaves them blocked for ever (its sockets have no timeout). So
the command socket gets a timeout (the first one loses it for good: a late reply would answer
the next command), `check()` runs a cheap command with a bounded wait, and
`sever()` shuts both sockets down, which ends the notify thread and unblocks every command, so
that closing a lost kit never waits on a dead socket.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import importlib
import logging
import socket
import struct
import threading
import time
from typing import Any, Final, Literal
import warnings

__all__ = [
    "COMMAND_TIMEOUT",
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

COMMAND_TIMEOUT: Final = 3.0
"""Seconds a remote pigpiod may take over one command before it counts as lost."""

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
    "remote_lost",
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
    severed: bool = False
    """Its sockets were cut (`sever()`): pigpiod is gone."""

    def check(self, timeout: float = COMMAND_TIMEOUT) -> GpioUnavailable | None:
        """None while the pins answer; why not once a remote pigpiod is gone. Blocks for
        `timeout` at most: the command runs in a thread of its own, left behind if it hangs."""
        connection = _pigpio_connection(self.factory) if self.owned else None
        if connection is None:
            return None  # local pins (or a stand-in) are not lost while the process runs
        if self.severed:
            return GpioUnavailable("remote_lost", f"{self.location} was lost")
        failure: list[BaseException] = []

        def ask() -> None:
            try:
                connection.get_current_tick()
            except BaseException as err:  # any failure is the daemon's loss
                failure.append(err)

        asking = threading.Thread(target=ask, name="pigpiod check", daemon=True)
        asking.start()
        asking.join(timeout)
        notify = getattr(connection, "_notify", None)
        if asking.is_alive():
            why = f"did not answer within {timeout:g} s"
        elif failure:
            why = f"dropped the connection ({type(failure[0]).__name__}: {failure[0]})"
        elif notify is not None and not notify.is_alive():
            why = "dropped the button's notifications"
        else:
            return None
        return GpioUnavailable(
            "remote_lost",
            f"{self.location} {why}: is the kit's Pi on, on the network, and pigpiod running?",
        )

    def sever(self) -> None:
        """Shut a remote factory's sockets down without talking to pigpiod: the notify thread
        ends (it spins on a dropped socket otherwise) and commands stop blocking, so that
        `close()` is quick. Nothing for local pins."""
        connection = _pigpio_connection(self.factory) if self.owned else None
        if connection is None:
            return
        self.severed = True
        notify = getattr(connection, "_notify", None)
        if notify is not None:
            notify.go = False  # its loop ends at the next read, which the shutdown returns
            connection._notify = None  # its stop() would send on the dead socket
        command = connection.sl.s
        # gpiozero's close then talks to a stand-in that answers every command at once:
        # devices close cleanly, rather than failing (and failing again when collected).
        connection.sl.s = _Severed()
        for sock in (getattr(getattr(notify, "sl", None), "s", None), command):
            if sock is None or isinstance(sock, _Severed):
                continue
            with contextlib.suppress(OSError):  # already gone: what was wanted
                sock.shutdown(socket.SHUT_RDWR)
        if command is not None and not isinstance(command, _Severed):
            command.close()  # a command blocked on it has been woken by the shutdown

    def close(self) -> None:
        """Close the factory if it is the kit's own; safe to call twice."""
        factory = self.factory
        if factory is None or not self.owned:
            return
        connection = _pigpio_connection(factory)
        notify = getattr(connection, "_notify", None)
        try:
            # The factory is dropped only once closed: a check() meanwhile still finds it.
            factory.close()
        except Exception:
            # A severed pigpiod fails every command of the close: expected, said quietly.
            level = logging.DEBUG if self.severed else logging.WARNING
            _LOGGER.log(
                level, "Closing the pin factory for %s failed", self.location, exc_info=True
            )
        finally:
            self.factory = None
            # pigpio's stop() asks the daemon to end the notify stream and leaves its thread
            # waiting for that: a daemon that no longer answers (a Pi without power) would
            # keep it waiting for ever, so its socket is cut. (When the pins' resets fail,
            # gpiozero never even gets to stop().)
            if notify is not None and notify.is_alive():
                notify.go = False
                with contextlib.suppress(OSError, AttributeError):
                    notify.sl.s.shutdown(socket.SHUT_RDWR)
            if connection is not None and connection.sl.s is not None:
                connection.sl.s.close()  # the close above may not have reached it
                connection.sl.s = None


class _Severed:
    """A lost pigpiod's command socket, stood in for: each command is answered at once with
    the result 0 (pigpio reads 16 bytes, the command's 12 and the result)."""

    def __init__(self) -> None:
        self._asked = bytes(12)

    def send(self, data: bytes) -> int:
        self._asked = bytes(data[:12])
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.send(data)

    def recv(self, size: int) -> bytes:
        return (self._asked + bytes(4))[:size]

    def close(self) -> None:
        """Nothing to release: the real socket was closed by `sever()`."""


def _pigpio_connection(factory: Any) -> Any:
    """The `pigpio.pi` of a PiGPIOFactory (None for any other factory, or once closed)."""
    connection = getattr(factory, "_connection", None)
    sl = getattr(connection, "sl", None)
    return connection if getattr(sl, "s", None) is not None else None


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
    # pigpio's connect and first commands have no timeout. The probe found the daemon
    # answering, but it may stall in between: the factory is made in a thread of its own, and
    # one it finishes after this open gave up is closed there, not left connected.
    made: list[Any] = []
    failure: list[BaseException] = []
    abandoned = threading.Event()
    handing_over = threading.Lock()

    def make() -> None:
        try:
            factory = factory_class(host=location.host, port=location.port)
        except BaseException as err:  # raised below, in the caller's thread
            failure.append(err)
            return
        with handing_over:
            if not abandoned.is_set():
                made.append(factory)
                return
        _LOGGER.debug("%s answered after the open gave up: closing its pin factory", location)
        with contextlib.suppress(Exception):
            factory.close()

    making = threading.Thread(target=make, name="pigpiod connect", daemon=True)
    making.start()
    making.join(timeout + COMMAND_TIMEOUT)
    with handing_over:
        if not made and not failure:
            abandoned.set()
            raise GpioUnavailable(
                "remote_unreachable",
                f"{location} accepted the connection but did not answer: is it pigpiod, and "
                "is the kit's Pi well?",
            )
    if failure:
        raise gpio_error(failure[0], location) from failure[0]
    factory = made[0]
    if (connection := _pigpio_connection(factory)) is not None:
        # From now on a command that hangs raises, and loses the socket (check() then finds
        # the kit lost).
        connection.sl.s = _CommandSocket(connection.sl.s, COMMAND_TIMEOUT)
    return factory


def _probe(location: RemotePins, timeout: float) -> None:
    """Connect once and ask for the tick, bounded, so that a dead address, or a daemon that
    accepts and never answers, fails here, fast and clearly, before pigpio's unbounded connect."""
    where = f"{location.host}:{location.port}"
    try:
        deadline = time.monotonic() + timeout
        with socket.create_connection((location.host, location.port), timeout=timeout) as probe:
            answered = _asks_tick(probe, deadline)
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
    if not answered:
        raise GpioUnavailable(
            "remote_unreachable",
            f"{where} accepted the connection but did not answer within {timeout:g} s: is it "
            "pigpiod, and is the kit's Pi well?",
        )


_TICK_COMMAND: Final = struct.pack("<IIII", 16, 0, 0, 0)
"""pigpio's TICK (command 16), the cheapest there is: answered with 16 bytes."""


def _asks_tick(probe: socket.socket, deadline: float) -> bool:
    """Whether the daemon answers one command by `deadline` (the whole probe's: a daemon
    trickling bytes cannot stretch it), False if it stays silent or hangs up mid-answer."""
    answer = b""
    try:
        probe.settimeout(max(deadline - time.monotonic(), 0.001))
        probe.sendall(_TICK_COMMAND)
        while len(answer) < len(_TICK_COMMAND):
            probe.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = probe.recv(len(_TICK_COMMAND) - len(answer))
            if not chunk:
                return False
            answer += chunk
    except TimeoutError:
        return False
    return answer[:4] == _TICK_COMMAND[:4]


class _CommandSocket:
    """pigpio's command socket, each reply bounded by `timeout`.

    pigpio pairs a command with the next 16 bytes it reads. A reply that comes after its
    command gave up would answer the command after it (a mode read as the tick's reply): so the
    first timeout or error loses the socket for good, cut at once, and every later command
    fails, which `OpenedPins.check()` then reports as the kit lost."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        sock.settimeout(timeout)
        self._sock = sock
        self.lost: OSError | None = None

    def _fail(self, err: OSError) -> OSError:
        if self.lost is None:
            self.lost = err
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        return err

    def _usable(self) -> None:
        if self.lost is not None:
            raise ConnectionError(f"pigpiod's connection was lost ({self.lost!r})")

    def send(self, data: bytes) -> int:
        self._usable()
        try:
            return self._sock.send(data)
        except OSError as err:
            raise self._fail(err) from None

    def sendall(self, data: bytes) -> None:
        self._usable()
        try:
            self._sock.sendall(data)
        except OSError as err:
            raise self._fail(err) from None

    def recv(self, size: int) -> bytes:
        self._usable()
        try:
            data = self._sock.recv(size)
        except OSError as err:
            raise self._fail(err) from None
        if not data:
            raise self._fail(ConnectionResetError("pigpiod closed the connection"))
        return data

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()


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
