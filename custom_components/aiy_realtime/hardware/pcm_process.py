"""PCM through a recorder or player process (parec/pacat, arecord/aplay): started on first
use, watched, and stopped on request; one that dies says why, rather than leave silence."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import contextlib
from pathlib import Path
import signal

from custom_components.aiy_realtime.realtime.audio import AudioDeviceError, Ending

STOP_TIMEOUT = 2.0
"""Seconds a recorder or player gets to exit after SIGTERM before it is killed."""
PLAY_OUT_TIMEOUT = 1.0
"""Seconds a closing player gets to play what it still holds (its buffer) before it is stopped."""
_STDERR_KEPT = 2000  # bytes of a process's stderr kept to say why it ended


# -- processes ----------------------------------------------------------------------------------


class _PcmProcess:
    """One recorder or player process: started, watched until it exits, stopped on request."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.stopping = False
        """Set once we end it: from then on its exit is ours, not a failure."""
        self.reading = False
        """Someone is reading its stdout (so stopping it must not read it too)."""
        self.exited: asyncio.Task[str] = asyncio.get_running_loop().create_task(
            self._watch(), name=f"aiy-audio-{name}-{process.pid}"
        )

    @classmethod
    async def start(cls, argv: Sequence[str], *, records: bool) -> _PcmProcess:
        """Starts `argv` with PCM on its stdout (`records`) or its stdin."""
        name = Path(argv[0]).name
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL if records else asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE if records else asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            raise AudioDeviceError(f"{name} could not start: {err.strerror or err}") from err
        return cls(name, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _watch(self) -> str:
        """Keeps the end of what the process writes to stderr; returns how it ended, in words.

        The recorders and players start no processes of their own, so stderr ends with them.
        """
        assert self.process.stderr is not None
        said = b""
        while chunk := await self.process.stderr.read(4096):
            said = (said + chunk)[-_STDERR_KEPT:]
        return _describe_exit(self.name, await self.process.wait(), said)

    async def how_it_ended(self, timeout: float = STOP_TIMEOUT) -> str:
        """Why the process stopped (its status and last words), once it has; bounded."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        except TimeoutError:
            return f"{self.name} closed its stream but did not exit"

    async def stop(self) -> None:
        """Ends the process now (SIGTERM, then SIGKILL) and returns once it is gone."""
        self.stopping = True
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
        await self._reap()

    async def play_out(self, timeout: float) -> None:
        """Ends a player's input and lets it play what it holds, stopping it after `timeout`."""
        self.stopping = True
        if self.process.stdin is not None:
            self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        await self.stop()

    async def _reap(self) -> None:
        # A recorder's output that nobody reads any more fills the pipe's buffer, and asyncio
        # then stops reading it: the pipe would never see its end and stay open after the
        # process is gone. Reading it away lets it close.
        drain = None
        if self.process.stdout is not None and not self.reading:
            drain = asyncio.get_running_loop().create_task(_read_away(self.process.stdout))
        try:
            await asyncio.wait_for(asyncio.shield(self.exited), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.exited
        finally:
            if drain is not None:
                # The process is gone: what is left in the pipe ends at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(drain, STOP_TIMEOUT)


async def _read_away(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


def _describe_exit(name: str, status: int, stderr: bytes) -> str:
    if status < 0:
        try:
            how = f"{name} was killed by {signal.Signals(-status).name}"
        except ValueError:
            how = f"{name} was killed by signal {-status}"
    else:
        how = f"{name} exited with status {status}"
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    said = [line for line in lines if line]
    return f"{how}: {said[-1]}" if said else how


class ProcessReader:
    """PCM from a capture command's stdout, e.g. `arecord -q -t raw -f S16_LE -r 24000 -c 1`.

    `live` (the default): the command records a sound card, whose clock paces it, and its exiting
    by itself is a failure (AudioDeviceError from `read`). With `live=False` it is a finite source
    (a file being decoded, say) that the track paces, and exiting with status 0 is its end.
    The command starts on the first read; `close()` returns once it is gone.
    """

    def __init__(self, argv: Sequence[str], *, live: bool = True) -> None:
        self.argv = list(argv)
        self.live = live
        self._process: _PcmProcess | None = None
        self._closed = False
        self._lock = asyncio.Lock()  # a start and a close never overlap

    @property
    def pid(self) -> int | None:
        """The command's process id, from its start until the reader is closed."""
        return self._process.pid if self._process is not None else None

    async def read(self, size: int) -> bytes:
        process = self._process or await self._start()
        if process is None:
            return b""
        assert process.process.stdout is not None
        process.reading = True
        try:
            return await process.process.stdout.readexactly(size)
        except asyncio.IncompleteReadError as err:
            return await self._at_end(process, err.partial)
        finally:
            process.reading = False

    async def _start(self) -> _PcmProcess | None:
        async with self._lock:
            if self._process is None and not self._closed:
                self._process = await _PcmProcess.start(self.argv, records=True)
            return self._process

    async def _at_end(self, process: _PcmProcess, partial: bytes) -> bytes:
        if process.stopping:
            return partial
        how = await process.how_it_ended()
        if not self.live and process.process.returncode == 0:
            return partial
        await process.stop()
        raise AudioDeviceError(how)

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is not None:
            await process.stop()


class ProcessSink(Ending):
    """Plays through a command reading raw PCM on stdin, e.g. `aplay -q -t raw -f S16_LE ...`.

    The player starts with the first write. `flush()` stops it at once, dropping what it still
    held, and the next write starts a new one. `close()` lets it play out (bounded by
    `play_out_timeout`) and returns once it is gone. A player that exits by itself ends the sink
    (`ended`: failed, with its status and last words) and makes writes raise AudioDeviceError.
    """

    def __init__(
        self,
        argv: Sequence[str],
        rate: int = 24000,
        channels: int = 1,
        *,
        play_out_timeout: float = PLAY_OUT_TIMEOUT,
    ) -> None:
        self.argv = list(argv)
        self.rate = rate
        self.channels = channels
        self.play_out_timeout = play_out_timeout
        self._player: _PcmProcess | None = None
        self._closed = False
        self._lock = asyncio.Lock()  # starting, flushing and closing never overlap

    @property
    def pid(self) -> int | None:
        """The running player's process id, if one runs."""
        return self._player.pid if self._player is not None else None

    async def write(self, pcm: bytes) -> None:
        if self._end_info is not None and self._end_info.failed:
            raise AudioDeviceError(self._end_info.detail)
        player = self._player or await self._start()
        if player is None:
            return  # closed: nothing plays any more
        stdin = player.process.stdin
        assert stdin is not None
        if not player.stopping and not stdin.is_closing():
            try:
                stdin.write(pcm)
                await stdin.drain()
            except BrokenPipeError, ConnectionResetError:
                pass
            else:
                return
        if player.stopping:
            return  # flushed or closed meanwhile: this chunk goes with the rest
        how = await player.how_it_ended()
        self._end("failed", how)
        raise AudioDeviceError(how)

    async def _start(self) -> _PcmProcess | None:
        async with self._lock:
            if self._player is None and not self._closed:
                try:
                    player = await _PcmProcess.start(self.argv, records=False)
                except AudioDeviceError as err:
                    self._end("failed", str(err))
                    raise
                player.exited.add_done_callback(lambda _: self._on_player_exit(player))
                self._player = player
            return self._player

    def _on_player_exit(self, player: _PcmProcess) -> None:
        if not player.stopping and not player.exited.cancelled():
            self._end("failed", player.exited.result())

    async def flush(self) -> None:
        async with self._lock:
            player, self._player = self._player, None
        if player is not None:
            await player.stop()

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            player, self._player = self._player, None
        if player is not None:
            await player.play_out(self.play_out_timeout)
        self._end("closed")
