"""A voice terminal's AIY kit in Home Assistant, as an adapter that knows nothing of the
terminal: it opens the pins, shows on the LED the state it is given (and the light the user sets
between sessions), hands the button's presses to whoever made it, and says in a repair issue why
a kit cannot be reached, tried again every minute. A remote kit is watched while open: a
pigpiod that goes away (or a Pi that loses power) makes it unavailable, with the same repair,
until it answers again. What a press does is the terminal's call
(device.py), so the two modules do not import each other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from ..const import (
    CONF_AMP_PIN,
    CONF_BOARD,
    CONF_BUTTON_PIN,
    CONF_LED_IDLE,
    CONF_LED_PIN,
    CONF_LONG_PRESS,
    CONF_PIGPIO_HOST,
    CONF_PIGPIO_PORT,
    CONF_PINS,
    DOMAIN,
    ISSUE_KIT_UNAVAILABLE,
    LOGGER,
    LONG_PRESS_END,
    PINS_REMOTE,
)
from ..hardware.boards import Board, BoardId, LedKind, board_for
from ..hardware.button import ButtonEvent
from ..hardware.kit import Kit, KitOptions
from ..hardware.led import IdlePattern, LightKind, UserLight
from ..hardware.pins import (
    DEFAULT_PIGPIO_PORT,
    GpioUnavailable,
    LocalPins,
    PinLocation,
    RemotePins,
)
from .states import SHOWN, VoiceState

KIT_RECHECK: Final = 60.0
"""Seconds between attempts to reach a kit that could not be opened (a Pi that boots later)."""
KIT_WATCH: Final = 10.0
"""Seconds between checks that a remote kit's pigpiod still answers (pigpio notices nothing)."""
KIT_CLOSE_TIMEOUT: Final = 3.0
"""Seconds closing a kit may take: a pigpiod that stopped answering must not hold an unload."""
SYSFS_ROOT: Final = Path("/sys")
"""Where the Voice Bonnet's LED driver is (tests point it at a fake tree)."""

type ButtonListener = Callable[[ButtonEvent], None]


@dataclass(frozen=True, slots=True)
class KitSettings:
    """What a terminal's subentry says of its kit."""

    board: Board
    location: PinLocation
    long_press: str
    led_idle: IdlePattern

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> KitSettings | None:
        """None for a terminal without a kit. Raises BoardError for pins that make no board."""
        board_id = options.get(CONF_BOARD, BoardId.NONE)
        if board_id == BoardId.NONE:
            return None
        board = board_for(
            board_id,
            button_pin=_pin(options.get(CONF_BUTTON_PIN)),
            led_pin=_pin(options.get(CONF_LED_PIN)),
            amp_pin=_pin(options.get(CONF_AMP_PIN)),
        )
        return cls(
            board=board,
            location=location_of(options),
            long_press=options.get(CONF_LONG_PRESS, LONG_PRESS_END),
            led_idle="ready" if options.get(CONF_LED_IDLE) == "ready" else "off",
        )

    @property
    def light_kind(self) -> LightKind:
        """What the LED can do, as far as the settings tell (the kit knows for sure)."""
        if self.board.led is LedKind.GPIO:
            return LightKind.BRIGHTNESS
        if self.board.led is LedKind.KTD202X and isinstance(self.location, LocalPins):
            return LightKind.RGB
        return LightKind.NONE


def location_of(options: Mapping[str, Any]) -> PinLocation:
    """Where the settings put the kit's pins."""
    if options.get(CONF_PINS) == PINS_REMOTE:
        port = options.get(CONF_PIGPIO_PORT) or DEFAULT_PIGPIO_PORT
        return RemotePins(str(options.get(CONF_PIGPIO_HOST, "")).strip(), int(port))
    return LocalPins()


def _pin(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


class TerminalKit:
    """The kit of one terminal while its entry is loaded."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        settings: KitSettings,
        *,
        key: str,
        title: str,
        on_button: ButtonListener,
    ) -> None:
        """`key` names the kit's repair issue and tasks, `title` says whose kit it is;
        `on_button` gets every press and decides what it does."""
        self.hass = hass
        self.entry = entry
        self.settings = settings
        self.key = key
        self.title = title
        self._on_button = on_button
        self.kit: Kit | None = None
        self.problem: GpioUnavailable | None = None
        self.user_light = UserLight()
        self._state = VoiceState.IDLE
        self._shown: VoiceState | None = None
        self._button_listeners: list[ButtonListener] = []
        self._listeners: list[Callable[[], None]] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._recheck: CALLBACK_TYPE | None = None
        self._watching: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def available(self) -> bool:
        return self.kit is not None

    @property
    def light_kind(self) -> LightKind:
        return self.kit.light_kind if self.kit is not None else self.settings.light_kind

    @property
    def issue_id(self) -> str:
        return f"{ISSUE_KIT_UNAVAILABLE}_{self.key}"

    @callback
    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` when the kit comes or goes, or the user's light changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def subscribe_button(self, listener: ButtonListener) -> Callable[[], None]:
        """Call `listener` with every press announced (`announce`): the event entity's."""
        self._button_listeners.append(listener)
        return lambda: self._button_listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # -- opening and closing -------------------------------------------------------------------

    async def async_open(self) -> bool:
        """Open the kit's pins; a repair issue says why when they cannot be used."""
        options = KitOptions(idle=self.settings.led_idle, sysfs_root=SYSFS_ROOT)
        try:
            kit = await self.hass.async_add_executor_job(
                partial(
                    Kit.open,
                    self.settings.board,
                    self.settings.location,
                    options,
                    post=self.hass.loop.call_soon_threadsafe,
                )
            )
        except GpioUnavailable as err:
            self._unavailable(err)
            return False
        if self._closing:  # unloaded while it opened
            await self.hass.async_add_executor_job(partial(kit.close_within, KIT_CLOSE_TIMEOUT))
            return False
        if self.problem is not None:
            LOGGER.info("The kit of %s works again", self.title)
        self.problem = None
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        self.kit = kit
        self._unsubscribe = [kit.subscribe(self._on_button)]
        kit.set_user_light(self.user_light)
        self._shown = None
        self.show(self._state)
        self._changed()
        if isinstance(self.settings.location, RemotePins):
            self._watching = self.entry.async_create_background_task(
                self.hass, self._watch(kit), f"aiy_realtime kit watch {self.key}"
            )
        return True

    async def _watch(self, kit: Kit) -> None:
        """Ask the remote pigpiod, now and then, whether it is still there."""
        while self.kit is kit:
            await asyncio.sleep(KIT_WATCH)
            problem = await self.hass.async_add_executor_job(kit.check)
            if problem is not None and self.kit is kit:
                await self._lost(kit, problem)

    async def _lost(self, kit: Kit, problem: GpioUnavailable) -> None:
        """The kit's pigpiod is gone: unavailable with its repair, tried again every minute;
        its connection cut (pigpio's notify thread spins on a dropped one) and released."""
        self._watching = None
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self.kit = None
        self._unavailable(problem)
        await self.hass.async_add_executor_job(
            partial(kit.close_within, KIT_CLOSE_TIMEOUT, lost=True)
        )

    def _unavailable(self, err: GpioUnavailable) -> None:
        if self.problem is None or self.problem.reason != err.reason:
            LOGGER.warning("The kit of %s cannot be used: %s", self.title, err)
        self.problem = err
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=f"kit_{err.reason}",
            translation_placeholders={
                "terminal": self.title,
                "where": str(self.settings.location),
                "detail": err.detail,
            },
        )
        if self._recheck is None and not self._closing:
            self._recheck = async_call_later(self.hass, KIT_RECHECK, self._try_again)
        self._changed()

    @callback
    def _try_again(self, _now: datetime) -> None:
        self._recheck = None
        self.entry.async_create_background_task(
            self.hass, self.async_open(), f"aiy_realtime kit {self.key}"
        )

    async def async_close(self) -> None:
        """Release every pin (blocking work off the event loop)."""
        self._closing = True
        if self._recheck is not None:
            self._recheck()
            self._recheck = None
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        kit, self.kit = self.kit, None
        if kit is not None:
            await self.hass.async_add_executor_job(partial(kit.close_within, KIT_CLOSE_TIMEOUT))
        # Said again at the next setup if still so; gone with a terminal that was removed.
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    # -- the LED -------------------------------------------------------------------------------

    @callback
    def show(self, state: VoiceState) -> None:
        """The terminal's state, on the LED (and the amplifier) while a session runs; kept
        for a kit that opens later."""
        self._state = state
        if self.kit is not None and state is not self._shown:
            self._shown = state
            self.kit.show(SHOWN[state].led)

    @callback
    def set_user_light(self, light: UserLight) -> None:
        """The light as the user wants it: now, or once the running session lets go of it."""
        self.user_light = light
        if self.kit is not None:
            self.kit.set_user_light(light)
        self._changed()

    # -- the button ----------------------------------------------------------------------------

    @callback
    def announce(self, event: ButtonEvent) -> None:
        """Tell the button's listeners (the event entity) of a press the terminal counts."""
        for listener in list(self._button_listeners):
            listener(event)
