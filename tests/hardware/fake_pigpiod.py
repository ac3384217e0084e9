"""A pigpiod on loopback, speaking enough of its socket protocol for the real `pigpio` client
and gpiozero's PiGPIOFactory: a test can press the button through it, drop it (the daemon
restarting), stop it, start it again on the same port, make it hang (a Pi that lost power:
connections accepted, nothing ever answered) or answer late (a Pi too busy, or a network losing
packets: each answer `late` seconds after its command).

The protocol (pigpio.py): each command is 16 bytes, little-endian `cmd, p1, p2, p3`, with `p3`
more bytes after it for the few extended commands; the answer is the same 16 bytes with the
last int replaced by the result. A connection that sends NOIB becomes a notify socket: from then
on the daemon writes 12-byte reports `seq, flags, tick, levels` to it, for the bits its handle
asked for by NB on the command socket.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import socket
import struct
import threading
import time
from typing import Final, Self

HWVER: Final = 17
TICK: Final = 16
READ: Final = 3
WRITE: Final = 4
MODES: Final = 0
MODEG: Final = 1
PWM: Final = 5
PRS: Final = 6
PFS: Final = 7
BR1: Final = 10
NB: Final = 19
NC: Final = 21
PRG: Final = 22
PFG: Final = 23
GDC: Final = 83
NOIB: Final = 99

PI_3B: Final = 0xA02082
"""The revision answered: a Raspberry Pi 3 B, a board gpiozero knows."""
COMMAND: Final = struct.Struct("<IIII")
REPORT: Final = struct.Struct("<HHII")


class FakePigpiod:
    """Start it with `start()` (or `with`); `port` stays the same across restarts."""

    def __init__(self) -> None:
        self.port = 0
        self.levels = 0xFFFFFFFF  # pulled up: a button not pressed reads high
        self.modes: dict[int, int] = {}
        self.duty: dict[int, int] = {}
        self.range: dict[int, int] = {}
        self.frequency: dict[int, int] = {}
        self.hanging = False
        self.late = 0.0
        """Seconds each answer waits before it is sent."""
        self.commands = 0
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        """The daemon's own threads, joined on stop: a test ends with none left."""
        self._connections: list[socket.socket] = []
        self._notify: dict[int, socket.socket] = {}  # handle → notify socket
        self._watched: dict[int, int] = {}  # handle → bits
        self._tick = 0
        self._seq = 0
        self._lock = threading.Lock()

    # -- what a test does ----------------------------------------------------------------------

    def start(self) -> Self:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        self.port = server.getsockname()[1]
        self._server = server
        self.hanging = False
        self._spawn(self._accept, server)
        return self

    def _spawn(self, target: Callable[[socket.socket], None], sock: socket.socket) -> None:
        thread = threading.Thread(target=target, args=(sock,), daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def drop(self) -> None:
        """Close every connection, as a pigpiod that restarts does (it keeps listening)."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._notify.clear()
            self._watched.clear()
        for connection in connections:
            _close(connection)

    def stop(self) -> None:
        """Gone: connections dropped, nobody listening."""
        if (server := self._server) is not None:
            self._server = None
            _close(server)
        self.drop()
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(2.0)

    def hang(self) -> None:
        """Accept, read, never answer: a Pi whose daemon (or network) died mid-way."""
        self.hanging = True

    def press(self, gpio: int, pressed: bool) -> None:
        """The button pulled low (pressed) or released, reported to who watches it."""
        with self._lock:
            if pressed:
                self.levels &= ~(1 << gpio)
            else:
                self.levels |= 1 << gpio
            self._tick += 1000
            self._seq = (self._seq + 1) & 0xFFFF
            report = REPORT.pack(self._seq, 0, self._tick, self.levels)
            targets = [
                sock
                for handle, sock in self._notify.items()
                if self._watched.get(handle, 0) & (1 << gpio)
            ]
        for sock in targets:
            with contextlib.suppress(OSError):
                sock.sendall(report)

    def watching(self, gpio: int) -> bool:
        with self._lock:
            return any(bits & (1 << gpio) for bits in self._watched.values())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the daemon ----------------------------------------------------------------------------

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return  # stopped
            with self._lock:
                self._connections.append(connection)
            self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        while True:
            try:
                data = _read(connection, COMMAND.size)
                cmd, p1, p2, p3 = COMMAND.unpack(data)
                if p3:
                    _read(connection, p3)  # an extended command's bytes
            except OSError:
                return
            if self.hanging:
                continue
            self.commands += 1
            result = self._run(connection, cmd, p1, p2)
            if self.late:
                time.sleep(self.late)
            try:
                connection.sendall(COMMAND.pack(cmd, p1, p2, result & 0xFFFFFFFF))
            except OSError:
                return

    def _run(self, connection: socket.socket, cmd: int, p1: int, p2: int) -> int:
        with self._lock:
            if cmd == HWVER:
                return PI_3B
            if cmd == TICK:
                self._tick += 1
                return self._tick
            if cmd == BR1:
                return self.levels
            if cmd == READ:
                return (self.levels >> p1) & 1
            if cmd == WRITE:
                self.levels = self.levels | (1 << p1) if p2 else self.levels & ~(1 << p1)
                return 0
            if cmd == MODES:
                self.modes[p1] = p2
                return 0
            if cmd == MODEG:
                return self.modes.get(p1, 0)
            if cmd == PWM:
                self.duty[p1] = p2
                return 0
            if cmd == GDC:
                return self.duty.get(p1, 0)
            if cmd == PRS:
                self.range[p1] = p2
                return p2
            if cmd == PRG:
                return self.range.get(p1, 255)
            if cmd == PFS:
                self.frequency[p1] = p2
                return p2
            if cmd == PFG:
                return self.frequency.get(p1, 800)
            if cmd == NOIB:
                handle = len(self._notify) + 1
                while handle in self._notify:
                    handle += 1
                self._notify[handle] = connection
                return handle
            if cmd == NB:
                self._watched[p1] = p2
                return 0
            if cmd == NC:
                self._notify.pop(p1, None)
                self._watched.pop(p1, None)
                return 0
            return 0  # pull-ups, glitch filters, …: done


def _read(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError("closed")
        data += chunk
    return data


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
