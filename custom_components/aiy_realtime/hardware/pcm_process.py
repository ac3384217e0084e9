"""PCM through a recorder or player process (parec/pacat, arecord/aplay): started on first
use, watched, and stopped on request; one that dies says why, rather than leave silence.

A voice terminal's audio runs all the time, 50 frames a second each way, on Home Assistant's
one event loop: a recorder's output is read a frame at a time with one look at the pipe a frame
(`_RecorderOutput`), and a player is handed PCM at once when its pipe has room
(`ProcessSink.write_nowait`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import contextlib
import os
from pathlib import Path
import signal

from custom_components.aiy_realtime.realtime.audio import AudioDeviceError, Ending

STOP_TIMEOUT = 2.0
"""Seconds a recorder or player gets to exit after SIGTERM before it is killed."""
PLAY_OUT_TIMEOUT = 1.0
"""Seconds a closing player gets to play what it still holds (its buffer) before it is stopped."""
_STDERR_KEPT = 2000  # bytes of a process's stderr kept to say why it ended
_READ_SIZE = 65536
_SHORTEST_WAIT = 0.002
"""Seconds below which waiting before looking at the pipe saves nothing."""
LAST_PIECE_WAIT = 0.005
"""Seconds a paced read waits beyond the time the sound it asks for takes to record: the last
piece of a frame reaches the pipe a little after the card recorded it (a few ms through
PulseAudio), and looking for it then usually spares a second wake-up for it."""


# -- a recorder's output ------------------------------------------------------------------------


class _RecorderOutput:
    """The read end of a recorder's stdout, read here a frame at a time.

    A recorder often writes a frame in pieces: a PulseAudio source hands over every few
    milliseconds of sound as soon as it has them when another client of the server asks for
    low latency (five pieces a frame with the test server). Through asyncio's pipe transport
    and stream reader, each piece costs a wake-up of the event loop, a chain of callbacks and a
    step of the reading task. Here a read that knows the recorder's rate first looks at the pipe
    when the sound it waits for can all have been recorded and passed on (`LAST_PIECE_WAIT`),
    takes what is there in one read, and only then watches the pipe for a piece still on its
    way: about one look a frame. The sound card's clock still sets the pace: a frame is handed
    over once its last piece has come, never before, and what came early (a burst) is handed
    over at once.

    Nothing is read while nobody reads: a recorder nobody reads blocks on its full pipe.
    """

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._eof = False
        self._wanted = 0
        self._waiter: asyncio.Future[None] | None = None
        self._due: asyncio.TimerHandle | None = None
        self._watching = False

    async def read(self, size: int, bytes_per_second: int | None = None) -> bytes:
        """`size` bytes; fewer only at the end of the output (once the recorder closed it, or
        this was closed). `bytes_per_second`: the recorder's pace (see above)."""
        if self._waiter is not None:
            raise RuntimeError("another read is waiting for the recorder")
        if len(self._buffer) < size:
            self._pull()
        while len(self._buffer) < size and not self._eof:
            self._wanted = size
            self._waiter = self._loop.create_future()
            wait = 0.0
            if bytes_per_second:
                wait = (size - len(self._buffer)) / bytes_per_second + LAST_PIECE_WAIT
            if wait >= _SHORTEST_WAIT:
                self._due = self._loop.call_later(wait, self._on_due)
            else:
                self._watch()
            try:
                await self._waiter
            finally:
                self._waiter = None
                self._stop_waiting()
        pcm = bytes(self._buffer[:size])
        del self._buffer[:size]
        return pcm

    def _pull(self) -> None:
        """Take what the pipe holds, without waiting."""
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._eof = True
                return
            self._buffer += data
            if len(data) < _READ_SIZE:
                return

    def _on_due(self) -> None:
        self._due = None
        self._pull()
        if self._eof or len(self._buffer) >= self._wanted:
            self._wake()
        else:
            self._watch()  # the last piece is still on its way

    def _on_readable(self) -> None:
        self._pull()
        if self._eof or len(self._buffer) >= self._wanted:
            self._wake()

    def _watch(self) -> None:
        if not self._watching and self._fd >= 0:
            self._loop.add_reader(self._fd, self._on_readable)
            self._watching = True

    def _stop_waiting(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        """Close the read end (a read waiting returns what there is)."""
        self._stop_waiting()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._eof = True
        self._wake()


# -- processes ----------------------------------------------------------------------------------


class _PcmProcess:
    """One recorder or player process: started, watched until it exits, stopped on request."""

    def __init__(
        self,
        name: str,
        process: asyncio.subprocess.Process,
        output: _RecorderOutput | None = None,
    ) -> None:
        self.name = name
        self.process = process
        self.output = output
        """A recorder's stdout."""
        self.stopping = False
        """Set once we end it: from then on its exit is ours, not a failure."""
        self.exited: asyncio.Task[str] = asyncio.get_running_loop().create_task(
            self._watch(), name=f"aiy-audio-{name}-{process.pid}"
        )

    @classmethod
    async def start(cls, argv: Sequence[str], *, records: bool) -> _PcmProcess:
        """Starts `argv` with PCM on its stdout (`records`) or its stdin."""
        name = Path(argv[0]).name
        # A recorder writes into a pipe of ours (see _RecorderOutput), a player reads asyncio's.
        read_end, write_end = os.pipe() if records else (-1, -1)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL if records else asyncio.subprocess.PIPE,
                stdout=write_end if records else asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            if records:
                os.close(read_end)
            raise AudioDeviceError(f"{name} could not start: {err.strerror or err}") from err
        finally:
            if records:
                os.close(write_end)
        return cls(name, process, _RecorderOutput(read_end) if records else None)

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
        try:
            await asyncio.wait_for(asyncio.shield(self.exited), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.exited
        finally:
            if self.output is not None:
                self.output.close()  # what is left in the pipe goes with it


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

    `bytes_per_second` (a live recorder's rate * channels * 2): a read looks at the pipe once
    the sound it asks for can all have been recorded (see `_RecorderOutput`).
    """

    def __init__(
        self, argv: Sequence[str], *, live: bool = True, bytes_per_second: int | None = None
    ) -> None:
        self.argv = list(argv)
        self.live = live
        self.bytes_per_second = bytes_per_second
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
        assert process.output is not None
        pcm = await process.output.read(size, self.bytes_per_second if self.live else None)
        if len(pcm) < size:
            return await self._at_end(process, pcm)
        return pcm

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

    def write_nowait(self, pcm: bytes) -> bool:
        """Hand `pcm` to the running player now, if its pipe takes it without waiting.

        False (nothing written) when no player runs yet, or the pipe still holds earlier PCM:
        `write()` it then. A player that broke meanwhile ends the sink as `write()` would say.
        """
        player = self._player
        if player is None or player.stopping or self._end_info is not None:
            return False
        stdin = player.process.stdin
        if stdin is None or stdin.is_closing() or stdin.transport.get_write_buffer_size():
            return False
        stdin.write(pcm)
        return True

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
