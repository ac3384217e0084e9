"""One connection (libpulse context) to a PulseAudio server: what it has, its modules, its events.

`server` None leaves the choice to libpulse's own configuration, as every PulseAudio client
does: `PULSE_SERVER` when set, else `default-server` in client.conf (which is how Home Assistant
OS names its audio server), else the local default. `unix:/path` and `tcp:host[:port]` work alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
import logging
from typing import Any

from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable

from . import library as pa
from .mainloop import PulseMainloop

_LOGGER = logging.getLogger(__name__)

CLIENT_NAME = "Home Assistant (AIY Realtime)"
OPERATION_TIMEOUT = 5.0
"""Seconds a request to a connected server may take before it counts as gone."""

type EventListener = Callable[[int, int, int], None]
"""(facility, event type, index): a sink, source, module or the server changed."""


@dataclass(frozen=True, slots=True)
class Device:
    """A source or sink: its name (what settings take), description, index, monitor or not."""

    name: str
    description: str
    index: int
    monitor: bool = False


@dataclass(frozen=True, slots=True)
class Module:
    index: int
    name: str
    argument: str


@dataclass(frozen=True, slots=True)
class ServerInfo:
    name: str
    version: str
    default_source: str | None
    default_sink: str | None


def server_words(server: str | None) -> str:
    """The server as a sentence names it."""
    return f"the PulseAudio server {server}" if server else "the default PulseAudio server"


class PulseConnection:
    """A context on `server`, connected by `open()`; `lost` resolves (with why) when it ends.

    Every call may raise AudioUnavailable: `server_unreachable` once the server is gone.
    """

    def __init__(self, server: str | None, *, client_name: str = CLIENT_NAME) -> None:
        self._mainloop = PulseMainloop(asyncio.get_running_loop(), pa.libpulse())
        self.lib = self._mainloop.lib
        self.server = server
        self.client_name = client_name
        self.context: int | None = self.lib.pa_context_new(self._mainloop.api, client_name.encode())
        if not self.context:
            self._mainloop.close()
            raise AudioUnavailable("failed", "libpulse could not make a context")
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending: dict[int, tuple[asyncio.Future[Any], Any]] = {}
        self._next_call = 1
        self._listeners: list[EventListener] = []
        self._on_state = pa.ContextNotifyCb(self._state_changed)
        self._on_event = pa.ContextSubscribeCb(self._event)
        self.lib.pa_context_set_state_callback(self.context, self._on_state, None)

    @classmethod
    async def open(
        cls, server: str | None, *, timeout: float, client_name: str = CLIENT_NAME
    ) -> PulseConnection:
        """A connection that is ready, listening for device and server events."""
        connection = cls(server, client_name=client_name)
        try:
            await connection._connect(timeout)
        except BaseException:
            connection.close()
            raise
        return connection

    @property
    def words(self) -> str:
        """This server, as a sentence names it (the address libpulse chose once connected)."""
        return server_words(self.server or self._chosen_server())

    @property
    def address(self) -> str:
        """The server's address: the one asked for, else the one libpulse chose."""
        return self.server or self._chosen_server() or ""

    def _chosen_server(self) -> str | None:
        if not self.context:
            return None
        return pa.text(self.lib.pa_context_get_server(self.context)) or None

    async def _connect(self, timeout: float) -> None:
        assert self.context
        server = self.server.encode() if self.server else None
        if self.lib.pa_context_connect(self.context, server, pa.CONTEXT_NOAUTOSPAWN, None) < 0:
            raise self._unreachable()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._ready)
        except TimeoutError:
            raise AudioUnavailable(
                "server_unreachable", f"{self.words} did not answer within {timeout:g} s"
            ) from None
        self.lib.pa_context_set_subscribe_callback(self.context, self._on_event, None)
        mask = (
            pa.SUBSCRIPTION_MASK_SINK
            | pa.SUBSCRIPTION_MASK_SOURCE
            | pa.SUBSCRIPTION_MASK_MODULE
            | pa.SUBSCRIPTION_MASK_SERVER
        )
        await self._success(lambda cb: self.lib.pa_context_subscribe(self.context, mask, cb, None))

    def _unreachable(self) -> AudioUnavailable:
        code = self.lib.pa_context_errno(self.context) if self.context else 0
        return AudioUnavailable(
            "server_unreachable", f"{self.words} cannot be reached: {self.lib.strerror(code)}"
        )

    def _state_changed(self, _context: int, _userdata: int | None) -> None:
        if not self.context:
            return
        state = self.lib.pa_context_get_state(self.context)
        if state == pa.CONTEXT_READY and not self._ready.done():
            self._ready.set_result(None)
        elif state in (pa.CONTEXT_FAILED, pa.CONTEXT_TERMINATED):
            self._ended(self._unreachable())

    def _ended(self, why: AudioUnavailable) -> None:
        if not self._ready.done():
            self._ready.set_exception(why)
            self._ready.exception()  # read here: nobody may be waiting any more
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(why)
        self._pending.clear()
        if not self.lost.done():
            self.lost.set_result(why.detail)

    # -- events ----------------------------------------------------------------------------------

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call `listener(facility, type, index)` for each sink, source, module, server event."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _event(self, _context: int, kind: int, index: int, _userdata: int | None) -> None:
        facility = kind & pa.EVENT_FACILITY_MASK
        change = kind & pa.EVENT_TYPE_MASK
        for listener in list(self._listeners):
            try:
                listener(facility, change, index)
            except Exception:
                _LOGGER.exception("A PulseAudio event listener failed")

    # -- requests --------------------------------------------------------------------------------

    def _call(self, start: Callable[[Any], int | None], callback_type: Any, handler: Any) -> Any:
        """Starts one request: `handler(future, *callback args)` settles the future."""
        if self.lost.done():
            raise AudioUnavailable("server_unreachable", f"{self.words}: {self.lost.result()}")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        call_id, self._next_call = self._next_call, self._next_call + 1

        def settle(*args: Any) -> None:
            try:
                if not future.done():
                    handler(future, *args)
            except Exception as err:
                if not future.done():
                    future.set_exception(err)
            if future.done():
                self._pending.pop(call_id, None)

        callback = callback_type(settle)
        self._pending[call_id] = (future, callback)  # the callback lives as long as the call
        operation = start(callback)
        if not operation:
            self._pending.pop(call_id, None)
            raise self._unreachable()
        self.lib.pa_operation_unref(operation)
        return future

    async def _wait(self, future: asyncio.Future[Any]) -> Any:
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                return await future
        except TimeoutError:
            raise AudioUnavailable(
                "server_unreachable", f"{self.words} did not answer within {OPERATION_TIMEOUT:g} s"
            ) from None

    async def _success(self, start: Callable[[Any], int | None]) -> bool:
        def handler(future: asyncio.Future[bool], _context: int, ok: int, _ud: Any) -> None:
            future.set_result(bool(ok))

        result: bool = await self._wait(self._call(start, pa.ContextSuccessCb, handler))
        return result

    async def _list[T](
        self, start: Callable[[Any], int | None], callback_type: Any, read: Callable[[Any], T]
    ) -> list[T]:
        found: list[T] = []

        def handler(
            future: asyncio.Future[list[T]], _context: int, info: Any, eol: int, _ud: Any
        ) -> None:
            if eol < 0:
                future.set_exception(self._unreachable())
            elif eol > 0:
                future.set_result(found)
            elif info:
                found.append(read(info.contents))

        result: list[T] = await self._wait(self._call(start, callback_type, handler))
        return result

    async def server_info(self) -> ServerInfo:
        def handler(future: asyncio.Future[ServerInfo], _context: int, info: Any, _ud: Any) -> None:
            if not info:
                future.set_exception(self._unreachable())
                return
            data = info.contents
            future.set_result(
                ServerInfo(
                    pa.text(data.server_name),
                    pa.text(data.server_version),
                    pa.text(data.default_source_name) or None,
                    pa.text(data.default_sink_name) or None,
                )
            )

        info: ServerInfo = await self._wait(
            self._call(
                lambda cb: self.lib.pa_context_get_server_info(self.context, cb, None),
                pa.ServerInfoCb,
                handler,
            )
        )
        return info

    async def sources(self) -> list[Device]:
        return await self._list(
            lambda cb: self.lib.pa_context_get_source_info_list(self.context, cb, None),
            pa.SourceInfoCb,
            lambda s: Device(
                pa.text(s.name),
                pa.text(s.description) or pa.text(s.name),
                s.index,
                s.monitor_of_sink != pa.PA_INVALID_INDEX,
            ),
        )

    async def sinks(self) -> list[Device]:
        return await self._list(
            lambda cb: self.lib.pa_context_get_sink_info_list(self.context, cb, None),
            pa.SinkInfoCb,
            lambda s: Device(pa.text(s.name), pa.text(s.description) or pa.text(s.name), s.index),
        )

    async def modules(self) -> list[Module]:
        return await self._list(
            lambda cb: self.lib.pa_context_get_module_info_list(self.context, cb, None),
            pa.ModuleInfoCb,
            lambda m: Module(m.index, pa.text(m.name), pa.text(m.argument)),
        )

    async def load_module(self, name: str, argument: str) -> int:
        """Loads a module on the server; AudioUnavailable (`failed`) when it refuses."""

        def handler(future: asyncio.Future[int], _context: int, index: int, _ud: Any) -> None:
            if index == pa.PA_INVALID_INDEX:
                code = self.lib.pa_context_errno(self.context)
                future.set_exception(
                    AudioUnavailable(
                        "failed", f"{self.words} did not load {name}: {self.lib.strerror(code)}"
                    )
                )
            else:
                future.set_result(index)

        index: int = await self._wait(
            self._call(
                lambda cb: self.lib.pa_context_load_module(
                    self.context, name.encode(), argument.encode(), cb, None
                ),
                pa.ContextIndexCb,
                handler,
            )
        )
        return index

    async def unload_module(self, index: int) -> bool:
        return await self._success(
            lambda cb: self.lib.pa_context_unload_module(self.context, index, cb, None)
        )

    # -- the end ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Disconnects (streams on it end too) and frees the context; safe to call twice."""
        context, self.context = self.context, None
        if not context:
            return
        self._ended(AudioUnavailable("server_unreachable", "the connection was closed"))
        self._listeners.clear()
        self.lib.pa_context_set_state_callback(context, pa.ContextNotifyCb(), None)
        self.lib.pa_context_disconnect(context)
        self.lib.pa_context_unref(context)
        # Streams on it are unlinked by the disconnect: nothing of libpulse uses the loop now.
        self._mainloop.close()

    @property
    def mainloop_watches(self) -> int:
        """What asyncio still holds for this connection's main loop (0 once closed)."""
        return self._mainloop.watches

    @property
    def mainloop_steps(self) -> int:
        return self._mainloop.steps

    @property
    def mainloop_wake_ups(self) -> int:
        """Times Home Assistant's loop ran this connection's main loop (what the tests count)."""
        return self._mainloop.wake_ups

    def __enter__(self) -> PulseConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
