"""The voice bench's call made by a browser: Debian's headless Chromium, as the browser app this
project grew from made it (benchmarks/browser_call.html), driven by Playwright as tests/e2e is.

The page is served by an aiohttp server of the bench's own on 127.0.0.1, which also stands in for
the app's server of OpenAI's browser recipe: it mints a client secret at the peer and passes the
page's SDP offer on to the peer's `/v1/realtime/calls` (the peer speaks no CORS, and the page
would need it to POST there itself). Both happen before the measured window. The microphone is
Chromium's fake capture device playing the bench's WAV round and round; getUserMedia keeps its
defaults (echo cancellation, noise suppression, gain control on), as the seed's page had them. The
answer plays through an <audio> element into the bench's PulseAudio server (`PULSE_SERVER`), as
the terminal's does, so Playwright's `--mute-audio` is left out.

What is counted is every process of Chromium's tree (the browser and all it started: renderer,
GPU, network, audio and other utility processes), read from /proc at the window's edges; not
Playwright's driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path

import aiohttp
from aiohttp import web
from playwright.async_api import Page, Route, async_playwright

from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.peer.http import VALID_KEY

PAGE = Path(__file__).with_name("browser_call.html")
CALL_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # The peer's only candidate is 127.0.0.1: Chromium leaves loopback out by default, and
    # would hide its own addresses behind mDNS names, announced on the network.
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]
SECRET_SESSION = {"type": "realtime", "model": "gpt-realtime"}
"""What the app's server asks a client secret for; the page configures the rest with
session.update, as the seed did."""


# -- Chromium's processes, from /proc -------------------------------------------------------------


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in listing.read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    waiting = child_pids(pid)
    while waiting:
        child = waiting.pop()
        found.append(child)
        waiting += child_pids(child)
    return found


def launched_by_playwright(pid: int) -> bool:
    """Playwright talks to the browser it launches over a pipe, and says so on its command line
    (every process Chromium starts has a `--type=` of its own instead)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"--remote-debugging-pipe" in arguments


def chromium_tree() -> list[int]:
    """Every process of the Chromium this process started through Playwright's driver: the
    browser itself (Debian's /usr/bin/chromium is a script that execs the binary) and all under
    it."""
    browsers = [pid for pid in descendants(os.getpid()) if launched_by_playwright(pid)]
    roots = [pid for pid in browsers if not any(pid in child_pids(other) for other in browsers)]
    assert len(roots) == 1, f"not one Chromium under the bench: {roots}"
    return [roots[0], *descendants(roots[0])]


def role(pid: int) -> str:
    """What a process of Chromium's does, from its command line: `browser`, `renderer`,
    `gpu-process`, `zygote`, or a utility's service (`audio.mojom.AudioService`, ...)."""
    try:
        # Chromium's children rewrite their command line as one string, spaces between.
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ").split()
    except OSError:
        return "gone"
    options = dict(a.removeprefix("--").partition("=")[::2] for a in arguments if "=" in a)
    kind = options.get("type", "browser")
    return options.get("utility-sub-type", kind) if kind == "utility" else kind


def by_role(pids: list[int]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for pid in pids:
        found.setdefault(role(pid), []).append(pid)
    return found


@dataclass(frozen=True, slots=True)
class Memory:
    rss_mb: float
    pss_mb: float
    """Proportional set size: shared pages split among the processes sharing them, so that the
    sum over the tree counts each page once (the RSS sum counts shared ones in every process)."""


def memory_of(pids: list[int]) -> Memory:
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name == "Rss":
                    rss += int(value.split()[0])
                elif name == "Pss":
                    pss += int(value.split()[0])
    return Memory(round(rss / 1024, 1), round(pss / 1024, 1))


# -- the page's server ----------------------------------------------------------------------------


@dataclass
class PageServer:
    """The page, a client secret, and the offer passed on to the peer (its Location kept for
    the hangup)."""

    peer_base_url: str
    url: str = ""
    locations: list[str] = field(default_factory=list)
    _http: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/realtime/calls", self._call)
        return app

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None
        return self._http

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def _token(self, request: web.Request) -> web.Response:
        async with self.http.post(
            f"{self.peer_base_url}/realtime/client_secrets",
            json={"session": SECRET_SESSION},
            headers={"Authorization": f"Bearer {VALID_KEY}"},
        ) as response:
            return web.Response(
                status=response.status, text=await response.text(), content_type="application/json"
            )

    async def _call(self, request: web.Request) -> web.Response:
        async with self.http.post(
            f"{self.peer_base_url}/realtime/calls",
            data=await request.read(),
            headers={
                "Authorization": request.headers["Authorization"],
                "Content-Type": request.content_type,
            },
        ) as response:
            if "Location" in response.headers:
                self.locations.append(response.headers["Location"])
            return web.Response(
                status=response.status,
                text=await response.text(),
                content_type=response.content_type,
            )

    async def hang_up(self) -> None:
        root = self.peer_base_url.removesuffix("/v1")
        while self.locations:
            location = self.locations.pop()
            async with self.http.post(
                f"{root}{location}/hangup", headers={"Authorization": f"Bearer {VALID_KEY}"}
            ):
                pass

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[PageServer]:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._http = aiohttp.ClientSession()
        try:
            yield self
        finally:
            await self._http.close()
            await runner.cleanup()


# -- the call -------------------------------------------------------------------------------------


@dataclass
class BrowserCall:
    page: Page
    version: str
    """Chromium's, as the browser reports it."""
    pids: list[int]
    """Chromium's processes once the call is up."""

    async def flow(self) -> dict[str, int]:
        """RTP packets sent and received so far, and the samples received (getStats)."""
        result: dict[str, int] = await self.page.evaluate("flow()")
        return result

    async def events(self) -> dict[str, int]:
        """How many of each server event the data channel delivered so far."""
        result: dict[str, int] = await self.page.evaluate("bench.events")
        return result

    async def errors(self) -> list[str]:
        result: list[str] = await self.page.evaluate("bench.errors")
        return result


@contextlib.asynccontextmanager
async def chromium_call(
    peer_base_url: str, microphone_wav: Path, pulse_server: str
) -> AsyncIterator[BrowserCall]:
    """Chromium launched, the page loaded and its call to the peer open (data channel open,
    session.update sent); hung up and closed on the way out."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium")
    async with (
        PageServer(peer_base_url).serving() as server,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                *CHROMIUM_ARGS,
                *CALL_ARGS,
                f"--use-file-for-fake-audio-capture={microphone_wav}",
            ],
            ignore_default_args=["--mute-audio"],
            env={**os.environ, "PULSE_SERVER": pulse_server},
        )
        try:
            page = await browser.new_page()

            async def refuse(route: Route) -> None:
                await route.abort("internetdisconnected")

            await page.route(lambda url: not url.startswith(server.url), refuse)
            await page.goto(server.url)
            await page.evaluate("call()")
            try:
                yield BrowserCall(page, browser.version, chromium_tree())
            finally:
                await page.evaluate("hangUp()")
                await server.hang_up()
        finally:
            await browser.close()
