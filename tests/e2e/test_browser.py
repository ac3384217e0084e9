"""From nothing to a working assistant, in Home Assistant's own frontend, as a new user does it.

A fresh Home Assistant (its own process, its own config directory) and the local Realtime peer
(the offline demo's pretend model); Debian's chromium, driven by Playwright: onboarding, the
integration added through its config flow (a wrong URL first, then the peer's), an Assist
pipeline on the new agent, "turn on the kitchen light" typed into the Assist dialog, the answer
streaming in and the light on in the UI; then a voice terminal added through its own flow on a
PulseAudio server the test starts. `AIY_SCREENSHOTS=1` keeps the screenshots in docs/screenshots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import os
from pathlib import Path
import shutil

from playwright.async_api import (
    Browser,
    Locator,
    Page,
    Route,
    TimeoutError as PlaywrightTimeoutError,
    async_playwright,
    expect,
)
import pytest

from tests.audio_server import AudioServer
from tests.e2e.home_assistant import ROOT, HomeAssistant, Peer, running

CHROMIUM = Path(os.environ.get("AIY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
UI_TIMEOUT_MS = 30_000
expect.set_options(timeout=UI_TIMEOUT_MS)
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 (one stat, before anything runs)
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium (as root)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


class Shots:
    """Screenshots of the steps a user sees: kept in docs/ with AIY_SCREENSHOTS=1."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.keep = os.environ.get("AIY_SCREENSHOTS") == "1"

    async def take(self, page: Page, name: str) -> None:
        path = self.directory / f"{name}.png"
        await page.screenshot(path=path, animations="disabled")
        if self.keep:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SCREENSHOTS / path.name)


async def stay_offline(page: Page, home: HomeAssistant) -> None:
    """Requests leaving the machine fail at once: none of the steps needs the internet, and on a
    network that drops packets rather than refusing them a stray request would hang a step."""

    async def refuse(route: Route) -> None:
        await route.abort("internetdisconnected")

    await page.route(lambda url: not url.startswith(home.url), refuse)


async def onboard(page: Page, home: HomeAssistant) -> None:
    """The owner account, then every later onboarding step as it comes (location, country,
    analytics), each with its own Next, until the dashboard."""
    await page.goto(home.url)
    await page.get_by_role("button", name="Create my smart home").click()
    await page.locator("input[name=name]").fill("Alex")
    await page.locator("input[name=username]").fill("alex")
    await page.get_by_role("textbox", name="Password*", exact=True).fill("correct horse battery")
    await page.get_by_role("textbox", name="Confirm password*").fill("correct horse battery")
    await page.get_by_role("button", name="Create account").click()
    for _ in range(8):  # location, country, analytics, (2026.11) all set: defaults for each
        if "onboarding" not in page.url:
            break
        step = page.get_by_role("button", name="Next", disabled=False).or_(
            page.get_by_role("button", name="Finish", disabled=False)
        )
        try:
            await step.first.click(timeout=UI_TIMEOUT_MS)
        except PlaywrightTimeoutError as err:  # the last step navigated away meanwhile
            if "onboarding" in page.url:
                shown = await page.locator("body").inner_text()
                raise AssertionError(f"onboarding stuck at {page.url}: {shown!r}") from err
    await page.wait_for_url("**/home/**", timeout=UI_TIMEOUT_MS)


async def pick_server(page: Page, server: str) -> None:
    """Type `server` into the server list's search box and add it as an item. Under load the
    list can take the click before it has the typed text (seen once in a full run): the user
    would try again, and so does this, up to three times."""
    for attempt in range(3):
        await page.get_by_text("Server", exact=True).click()
        await page.get_by_placeholder("Search | Add custom item").fill(server)
        await page.get_by_text("Add custom item", exact=True).click()
        try:
            await expect(page.get_by_text(server, exact=True)).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            if attempt == 2:
                raise


async def choose(page: Page, select: Locator, option: str) -> None:
    """Open `select` and pick `option`. Under load the click can land while the section around
    it still unfolds, and the list does not open (seen once with the suite on both cores): the
    user would click again, and so does this, up to three times."""
    for attempt in range(3):
        await select.click()
        item = page.get_by_text(option)
        try:
            await expect(item).to_be_visible(timeout=5_000)
        except AssertionError:
            if attempt == 2:
                raise
            continue
        await item.click()
        return


async def add_integration(page: Page, home: HomeAssistant, peer: Peer, shots: Shots) -> None:
    await page.goto(home.url + "/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    await page.get_by_placeholder("Search for a brand name").fill("AIY Realtime")
    await page.get_by_role("button", name="AIY Realtime", exact=True).click()

    await page.get_by_role("textbox", name="API key*").fill("sk-test-valid")
    await page.get_by_text("Endpoint", exact=True).click()  # a collapsed section
    await choose(
        page, page.locator("ha-selector-select, ha-select").first, "Custom (OpenAI-compatible)"
    )
    # A URL one path off: the form says what is wrong and keeps what was typed.
    await page.get_by_role("textbox", name="URL").fill(peer.url.removesuffix("/v1") + "/wrong")
    await page.get_by_role("button", name="Submit").click()
    await expect(
        page.get_by_text("The endpoint answered, but not like the OpenAI API")
    ).to_be_visible()
    await page.get_by_text("Endpoint", exact=True).click()
    url = page.get_by_role("textbox", name="URL")
    await url.fill(peer.url)
    await expect(url).to_be_in_viewport()
    await shots.take(page, "config-flow")
    await page.get_by_role("button", name="Submit").click()
    # The entry comes with its first assistant: HA asks where to put its device.
    await expect(page.get_by_text("Name and assign")).to_be_visible()
    await page.get_by_role("button", name="Skip and finish").click()


async def choose_the_agent(page: Page, home: HomeAssistant) -> None:
    """An Assist pipeline named Realtime on our agent, made the preferred one."""
    await page.goto(home.url + "/config/voice-assistants/assistants")
    await page.get_by_role("button", name="Add assistant").click()
    await page.get_by_role("textbox", name="Name*").fill("Realtime")
    await page.locator("ha-conversation-agent-picker").click()
    await page.get_by_text("AIY Realtime assistant", exact=True).click()
    await page.get_by_role("button", name="Create").click()
    ours = page.locator("ha-list-item-button", has_text="Realtime")
    await ours.locator("ha-icon-button[slot=trigger]").click()
    await ours.locator("ha-dropdown-item[value=set-preferred]").click()


async def open_assist(page: Page, home: HomeAssistant) -> None:
    await page.goto(home.url + "/home/overview")
    await expect(page.get_by_role("button", name="Lights All off")).to_be_visible()
    await page.get_by_role("button", name="Assist (A)").click()
    # The dialog's parts are slotted into it: they are found from the page, not under it.
    await expect(page.get_by_role("button", name="Realtime")).to_be_visible()  # our pipeline
    await page.evaluate(WATCH_ANSWERS)


async def ask(page: Page, request: str, answer: str) -> list[str]:
    """Types `request` into the Assist dialog and waits for `answer`; returns every text the
    answer's bubble showed on its way."""
    await page.evaluate("window.aiySeen = []")
    await page.get_by_role("textbox", name="Enter a request").fill(request)
    await page.keyboard.press("Enter")
    await expect(page.get_by_text(answer, exact=True)).to_be_visible()
    seen: list[str] = await page.evaluate("window.aiySeen")
    return seen


# Records each text the Assist dialog's answer bubbles show, looked at every few milliseconds (a
# streamed answer grows in place, a delta every 30 ms from the demo model). The bubbles' text
# sits in shadow roots of their own.
WATCH_ANSWERS = """
() => {
  window.aiySeen = [];
  const text = (node) => {
    let out = '';
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) out += child.textContent;
      else if (child.nodeType === Node.ELEMENT_NODE) {
        if (child.shadowRoot) out += text(child.shadowRoot);
        out += text(child);
      }
    }
    return out;
  };
  const answers = (root, out) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList.contains('message') && el.classList.contains('hass')) out.push(el);
      if (el.shadowRoot) answers(el.shadowRoot, out);
    }
    return out;
  };
  setInterval(() => {
    const all = answers(document, []);
    const last = all.length ? text(all[all.length - 1]).trim() : '';
    if (last && window.aiySeen[window.aiySeen.length - 1] !== last) window.aiySeen.push(last);
  }, 5);
}
"""


async def add_voice_terminal(
    page: Page, home: HomeAssistant, audio_server: AudioServer, shots: Shots
) -> None:
    # As a user gets there: from the integrations dashboard, whose card shows once the
    # frontend holds the config entries. Opening the entry's page by its URL can render it
    # before they arrive, as "No entries", and it stays so (seen on HA 2026.11 in CI).
    await page.goto(home.url + "/config/integrations/dashboard")
    await page.locator("ha-integration-card", has_text="AIY Realtime").first.click()
    await expect(page.get_by_role("button", name="Add voice terminal")).to_be_visible()
    await expect(page.get_by_text("AIY Realtime assistant").first).to_be_visible()
    await shots.take(page, "entry-page")
    await page.get_by_role("button", name="Add voice terminal").click()
    await page.get_by_role("textbox", name="Name*").fill("Kitchen terminal")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text("AIY Voice Kit")).to_be_visible()  # No kit: as it comes
    await page.get_by_role("button", name="Submit").click()
    # The server first, then that server's devices. The server is a list that takes a typed
    # address: the field opens a search box, which adds what is typed as an item of its own.
    await pick_server(page, audio_server.server)
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text("PulseAudio devices")).to_be_visible()
    await shots.take(page, "sound-devices")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text("Created configuration for Kitchen terminal.")).to_be_visible()
    await page.get_by_role("button", name="Finish").click()

    await page.goto(home.url + "/config/devices/dashboard")
    await page.get_by_text("Kitchen terminal", exact=True).first.click()
    await expect(page.get_by_text("Session", exact=True)).to_be_visible()
    await expect(page.get_by_text("Idle").first).to_be_visible()
    await shots.take(page, "voice-terminal-device")


async def test_a_new_user_gets_a_working_assistant_in_the_frontend(
    socket_enabled: None, browser: Browser, audio_server: AudioServer, tmp_path: Path
) -> None:
    shots = Shots(tmp_path)
    async with running(tmp_path) as (home, peer):
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(UI_TIMEOUT_MS)
        await stay_offline(page, home)

        await onboard(page, home)
        await add_integration(page, home, peer, shots)
        await choose_the_agent(page, home)
        await open_assist(page, home)
        seen = await ask(page, "turn on the kitchen light", "Turned on the light")
        assert seen[-1] == "Turned on the light", seen
        # A longer answer grows in place as the model writes it (a part on its way ends in "…").
        story = "You said: tell me about the kitchen"
        seen = await ask(page, "tell me about the kitchen", story)
        parts = [text.removesuffix("…") for text in seen[:-1]]
        assert len([part for part in parts if part and story.startswith(part)]) >= 3, seen
        await shots.take(page, "assist-dialog")
        await page.get_by_role("button", name="Close").click()
        # The light is on in the UI.
        await expect(page.get_by_role("button", name="Lights 1 on")).to_be_visible()

        await add_voice_terminal(page, home, audio_server, shots)
        await page.close()
    log = (home.config / "home-assistant.log").read_text(errors="replace").splitlines()
    ours = [line for line in log if " ERROR " in line and "aiy_realtime" in line]
    assert not ours, "\n".join(ours)
