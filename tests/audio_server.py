"""A real PulseAudio server for tests: two null sinks stand in for the kit's microphone and speaker.

The terminal under test records `kit_mic.monitor` (what the test plays into `kit_mic`) and plays
into `kit_speaker`, whose monitor the test records. The server runs as the test's own child on a
socket in a temporary directory (`unix:<dir>/native`), and stops with every helper at teardown.
ALSA reaches the same server through `-D pulse` with `PULSE_SERVER` set (libasound2-plugins).

Helpers measure loudness in 20 ms windows and make speech with espeak-ng (+ sox to 48 kHz).
"""

from __future__ import annotations

import array
import asyncio
from collections.abc import AsyncIterator, Sequence
import contextlib
from dataclasses import dataclass, field
import math
import os
from pathlib import Path
import shutil
import tempfile
import wave

SERVER_COMMANDS = ("pulseaudio", "pactl", "pacat", "parec")
"""What the server and its helpers run (Debian: pulseaudio, pulseaudio-utils)."""
STAND_INS_MARK = "aiy-audio-stand-ins"
"""A file in the directory of the suite's stand-ins for audio commands (tests/conftest.py)."""


def _real_path() -> str:
    """PATH without the suite's stand-ins: a process started with them on PATH (a worker of
    pytest-xdist, a child of the suite) still finds the real tools."""
    return os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if not (Path(entry) / STAND_INS_MARK).exists()
    )


TOOLS = {command: shutil.which(command, path=_real_path()) for command in SERVER_COMMANDS}
"""Each by its full path, whatever the suite put on PATH (tests/conftest.py): the integration
must work without them, as in Home Assistant's official image."""
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
RATE = 48000

MIC_SINK = "kit_mic"
SPEAKER_SINK = "kit_speaker"


def missing_commands(commands: Sequence[str] = SERVER_COMMANDS) -> list[str]:
    return [
        command for command in commands if (TOOLS.get(command) or shutil.which(command)) is None
    ]


def tool(command: str) -> str:
    """The full path of one of the harness's own tools."""
    path = TOOLS.get(command)
    if path is None:
        raise AudioServerError(f"{command} not found: run scripts/setup as root")
    return path


class AudioServerError(RuntimeError):
    """The test server could not start (with what it said), or a helper failed."""


@dataclass
class AudioServer:
    """A running PulseAudio server and the test's tools to play into and record from it."""

    directory: Path
    process: asyncio.subprocess.Process
    mic_sink: str = MIC_SINK
    mic_source: str = f"{MIC_SINK}.monitor"
    speaker_sink: str = SPEAKER_SINK
    speaker_monitor: str = f"{SPEAKER_SINK}.monitor"
    _helpers: set[asyncio.subprocess.Process] = field(default_factory=set)

    @property
    def server(self) -> str:
        """What `PULSE_SERVER` or `--server` take to reach this server."""
        return f"unix:{self.directory / 'native'}"

    @property
    def client_conf(self) -> Path:
        """A libpulse client.conf naming this server as the default, as Home Assistant OS's
        does (`PULSE_CLIENTCONFIG` points a client at it)."""
        return self.directory / "client.conf"

    def client_env(self) -> dict[str, str]:
        """Environment for the test's own PulseAudio and ALSA clients (a private HOME too)."""
        return {
            **os.environ,
            "PULSE_SERVER": self.server,
            "HOME": str(self.directory),
            "XDG_RUNTIME_DIR": str(self.directory),
        }

    # -- start and stop ----------------------------------------------------------------------

    @classmethod
    async def start(cls) -> AudioServer:
        if missing := missing_commands():
            raise AudioServerError(
                f"{', '.join(missing)} not found: run scripts/setup as root, or "
                "apt-get install pulseaudio pulseaudio-utils"
            )
        # A short path of its own: a unix socket's path must stay under 108 bytes.
        directory = Path(tempfile.mkdtemp(prefix="aiy-pulse-"))
        script = directory / "server.pa"
        script.write_text(_server_script(directory / "native"))
        env = {
            **os.environ,
            "HOME": str(directory),
            "XDG_RUNTIME_DIR": str(directory),
            "PULSE_STATE_PATH": str(directory / "state"),
            "PULSE_RUNTIME_PATH": str(directory / "runtime"),
        }
        env.pop("PULSE_SERVER", None)
        (directory / "client.conf").write_text(
            f"default-server = unix:{directory / 'native'}\nautospawn = no\n"
        )
        process = await asyncio.create_subprocess_exec(
            tool("pulseaudio"),
            "-n",  # no default script: only what server.pa loads
            f"--file={script}",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--system=false",
            "--use-pid-file=no",
            "--realtime=no",
            "--high-priority=no",
            "--no-cpu-limit",
            # As Home Assistant OS's audio server runs: no shared memory with its clients.
            "--disable-shm",
            f"--log-target=file:{directory / 'server.log'}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        server = cls(directory, process)
        try:
            await server._wait_ready()
            await server._keep_sinks_awake()
        except BaseException:
            await server.stop()
            raise
        return server

    async def _wait_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        while True:
            if self.process.returncode is not None:
                raise AudioServerError(f"pulseaudio exited ({self.process.returncode}): {self.log}")
            status, _ = await self._pactl_status("info")
            if status == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AudioServerError(f"pulseaudio did not answer in {READY_TIMEOUT}s: {self.log}")
            await asyncio.sleep(0.05)

    async def _keep_sinks_awake(self) -> None:
        # An idle null sink renders in 2 s blocks and only shortens them at the next block:
        # a new stream would wait up to 2 s for its first sound. A quiet low-latency reader on
        # each monitor keeps both sinks working in 20 ms steps for the whole test; suspending and
        # resuming each sink once they listen ends the long block the sink started with.
        for monitor in (self.mic_source, self.speaker_monitor):
            await self._spawn(
                "parec",
                f"--device={monitor}",
                "--raw",
                "--latency-msec=20",
                stdout=asyncio.subprocess.DEVNULL,
            )
        for _ in range(int(READY_TIMEOUT / 0.01)):
            if (await self.pactl("list", "short", "source-outputs")).count("\n") >= 2:
                break
            await asyncio.sleep(0.01)
        else:
            raise AudioServerError(f"the sinks' keepers did not connect: {self.log}")
        for sink in (self.mic_sink, self.speaker_sink):
            await self.pactl("suspend-sink", sink, "1")
            await self.pactl("suspend-sink", sink, "0")

    @property
    def pids(self) -> tuple[int, ...]:
        """The server's and the test's own helpers' processes (not a client under test)."""
        return (self.process.pid, *(helper.pid for helper in self._helpers))

    @property
    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text()[-2000:] if path.exists() else "(no log)"

    async def stop(self) -> None:
        """Stop every helper and the server; remove the directory. Idempotent."""
        for helper in list(self._helpers):
            await _end(helper)
        self._helpers.clear()
        await _end(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- tools -------------------------------------------------------------------------------

    async def pactl(self, *args: str) -> str:
        """Run pactl against this server; its output (raises on failure)."""
        status, out = await self._pactl_status(*args)
        if status != 0:
            raise AudioServerError(f"pactl {' '.join(args)} failed: {out}")
        return out

    async def _pactl_status(self, *args: str) -> tuple[int, str]:
        process = await self._spawn(
            "pactl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await process.communicate()
        self._helpers.discard(process)
        assert process.returncode is not None
        return process.returncode, out.decode(errors="replace")

    async def play(self, wav: Path, sink: str | None = None) -> None:
        """Play a WAV file into a sink (the kit's microphone by default) and wait until done."""
        process = await self._spawn(
            "pacat",
            "--playback",
            "--file-format=wav",
            f"--device={sink or self.mic_sink}",
            "--latency-msec=20",
            str(wav),
            stderr=asyncio.subprocess.PIPE,
        )
        _, said = await process.communicate()
        self._helpers.discard(process)
        if process.returncode != 0:
            raise AudioServerError(f"playing {wav} failed: {said.decode(errors='replace')}")

    async def record(self, seconds: float, source: str | None = None, rate: int = RATE) -> bytes:
        """Exactly `seconds` of mono S16 PCM from a source (the speaker's monitor by default)."""
        async with self.recorder(source, rate) as recording:
            await recording.wait_for_bytes(int(seconds * rate) * 2)
        return recording.pcm[: int(seconds * rate) * 2]

    @contextlib.asynccontextmanager
    async def recorder(
        self, source: str | None = None, rate: int = RATE
    ) -> AsyncIterator[Recording]:
        """Record a source (the speaker's monitor by default) while the block runs."""
        process = await self._spawn(
            "parec",
            f"--device={source or self.speaker_monitor}",
            "--raw",
            "--format=s16le",
            f"--rate={rate}",
            "--channels=1",
            "--latency-msec=20",
            stdout=asyncio.subprocess.PIPE,
        )
        recording = Recording(rate)
        assert process.stdout is not None
        reading = asyncio.get_running_loop().create_task(recording.take(process.stdout))
        try:
            yield recording
        finally:
            await _end(process)
            self._helpers.discard(process)
            await reading

    async def _spawn(
        self,
        *argv: str,
        stdout: int = asyncio.subprocess.DEVNULL,
        stderr: int = asyncio.subprocess.DEVNULL,
    ) -> asyncio.subprocess.Process:
        command, *args = argv
        process = await asyncio.create_subprocess_exec(
            tool(command),
            f"--server={self.server}",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=self.client_env(),
        )
        self._helpers.add(process)
        return process


def _server_script(socket: Path) -> str:
    def sink(name: str, description: str) -> str:
        return (
            f"load-module module-null-sink sink_name={name} "
            f"sink_properties=\"device.description='{description}'\""
        )

    return "\n".join(
        [
            f"load-module module-native-protocol-unix socket={socket} auth-anonymous=1",
            sink(MIC_SINK, "Kit microphone (test)"),
            sink(SPEAKER_SINK, "Kit speaker (test)"),
            # What a terminal with no device names uses, ALSA's `-D pulse` included.
            f"set-default-sink {SPEAKER_SINK}",
            f"set-default-source {MIC_SINK}.monitor",
            "",
        ]
    )


async def _end(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class Recording:
    """PCM collected by a recorder while it runs, with the loudness of each 20 ms window."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._pcm = bytearray()
        self.rms: list[float] = []
        """Loudness of each complete 20 ms window so far (share of full scale)."""
        self._window_bytes = rate * 20 // 1000 * 2
        self._grew = asyncio.Event()

    @property
    def pcm(self) -> bytes:
        return bytes(self._pcm)

    async def take(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            start = len(self.rms) * self._window_bytes
            self._pcm.extend(chunk)
            complete = (len(self._pcm) - start) // self._window_bytes * self._window_bytes
            self.rms.extend(rms_windows(bytes(self._pcm[start : start + complete]), self.rate))
            self._grew.set()

    async def wait_for_bytes(self, count: int) -> None:
        while len(self._pcm) < count:
            self._grew.clear()
            await self._grew.wait()

    def loud_windows(self, threshold: float = 0.05) -> int:
        return sum(1 for rms in self.rms if rms > threshold)

    async def wait_for_sound(self, windows: int = 5, threshold: float = 0.05) -> None:
        """Until `windows` loud 20 ms windows (RMS over `threshold` of full scale) were heard."""
        while self.loud_windows(threshold) < windows:
            self._grew.clear()
            await self._grew.wait()

    async def wait_for_quiet(self, quiet_ms: int = 200, threshold: float = 0.05) -> None:
        """Until something was heard and then `quiet_ms` of quiet: as a listener hears a
        sentence end."""
        await self.wait_for_sound(1, threshold)
        windows = quiet_ms // 20
        while not (
            len(self.rms) >= windows and all(rms <= threshold for rms in self.rms[-windows:])
        ):
            self._grew.clear()
            await self._grew.wait()


# -- loudness ---------------------------------------------------------------------------------


def rms_windows(pcm: bytes, rate: int = RATE, window_ms: int = 20) -> list[float]:
    """RMS of each full window of mono S16 PCM, as a share of full scale (0 to 1)."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    size = rate * window_ms // 1000
    return [
        math.sqrt(sum(s * s for s in samples[start : start + size]) / size) / 32768
        for start in range(0, len(samples) - size + 1, size)
    ]


def loud_windows(pcm: bytes, rate: int = RATE, threshold: float = 0.05) -> int:
    """How many 20 ms windows are louder than `threshold` (0.05 ≈ -26 dBFS)."""
    return sum(1 for rms in rms_windows(pcm, rate) if rms > threshold)


def loudest(pcm: bytes, rate: int = RATE) -> float:
    return max(rms_windows(pcm, rate), default=0.0)


# -- sounds -----------------------------------------------------------------------------------


def tone(
    seconds: float, frequency: float = 440.0, amplitude: float = 0.5, rate: int = RATE
) -> bytes:
    """Mono S16 PCM of a sine tone."""
    peak = 32767 * amplitude
    samples = array.array(
        "h",
        (
            int(peak * math.sin(2 * math.pi * frequency * n / rate))
            for n in range(int(seconds * rate))
        ),
    )
    return samples.tobytes()


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


async def speech_wav(text: str, path: Path, rate: int = RATE) -> Path:
    """`text` spoken by espeak-ng, as a 16-bit mono WAV at `rate` (sox resamples it)."""
    if missing := missing_commands(("espeak-ng", "sox")):
        raise AudioServerError(f"{', '.join(missing)} not found: run scripts/setup as root")
    raw = path.with_suffix(".espeak.wav")
    await _run("espeak-ng", "-w", str(raw), text)
    await _run("sox", str(raw), "-r", str(rate), "-b", "16", "-c", "1", str(path))
    raw.unlink()
    return path


async def _run(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, said = await process.communicate()
    if process.returncode != 0:
        raise AudioServerError(f"{argv[0]} failed: {said.decode(errors='replace')}")
