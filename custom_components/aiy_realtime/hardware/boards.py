"""The kit's boards as data: which pins do what, what LED there is, which sound card it is.

The Google AIY Voice Kit came in two generations, both on the Raspberry Pi's 40-pin header
(BCM numbers): the Voice HAT (v1, 2017) and the Voice Bonnet (v2, 2018). `custom_board()` takes
any pins for a home-made kit; `NO_KIT` is a terminal without one. The form offers
`BOARDS`; a profile's `audio` fills in the sound settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal

from .audio_devices import AlsaBackend, AudioDevice

__all__ = [
    "BOARDS",
    "NO_KIT",
    "VOICE_BONNET",
    "VOICE_HAT",
    "AudioDefaults",
    "Board",
    "BoardError",
    "BoardId",
    "LedKind",
    "board_for",
    "custom_board",
]

GPIO_PINS: Final = range(28)
"""The BCM GPIO numbers on the 40-pin header."""


class BoardId(StrEnum):
    VOICE_HAT = "voice_hat"
    VOICE_BONNET = "voice_bonnet"
    CUSTOM = "custom"
    NONE = "none"


class LedKind(StrEnum):
    """How the button's LED is driven."""

    NONE = "none"
    GPIO = "gpio"
    """A single-colour LED on a GPIO pin: brightness by (software) PWM where the pins allow it."""
    KTD202X = "ktd202x"
    """The bonnet's RGB LED on a KTD2026/2027 driver chip, through the `leds-ktd202x` kernel
    driver's sysfs: only on the Pi that wears the bonnet."""


@dataclass(frozen=True, slots=True)
class AudioDefaults:
    """A board's sound card: what the sound settings default to."""

    alsa_card: str
    """The ALSA card id (`/proc/asound/cards`)."""
    alsa_capture: str
    alsa_playback: str
    rate: int
    """A rate the card takes without conversion."""
    card_names: tuple[str, ...]
    """Words a listing of the card's devices contains (ALSA names, PulseAudio descriptions)."""
    note: str

    def alsa(self) -> AlsaBackend:
        """The ALSA settings for this card."""
        return AlsaBackend(capture=self.alsa_capture, playback=self.alsa_playback)

    def matches(self, device: AudioDevice) -> bool:
        """Whether a listed device is this card's: exact for ALSA listings (the card id is in
        the name), best effort for PulseAudio (its description usually names the card)."""
        text = f"{device.name} {device.description}".lower()
        return any(name.lower() in text for name in self.card_names)


@dataclass(frozen=True, slots=True)
class Board:
    """One board profile. Pins are BCM numbers; None where the board has no such part."""

    id: BoardId
    name: str
    button_pin: int | None = None
    button_pull_up: bool = True
    """True: the button pulls the pin low when pressed (internal pull-up on)."""
    led: LedKind = LedKind.NONE
    led_pin: int | None = None
    led_active_high: bool = True
    pwm_frequency: int = 100
    """Hz of the LED's PWM (software PWM on GPIO25: not a hardware-PWM pin)."""
    amp_pin: int | None = None
    """The amplifier's enable pin (active high): on only while a session may play audio."""
    audio: AudioDefaults | None = None

    @property
    def pins(self) -> tuple[int, ...]:
        """Every GPIO the board uses (the LED's only when it is on a GPIO)."""
        led = self.led_pin if self.led is LedKind.GPIO else None
        return tuple(pin for pin in (self.button_pin, led, self.amp_pin) if pin is not None)

    @property
    def needs_gpio(self) -> bool:
        """Whether the board uses any GPIO (a pin factory is needed)."""
        return bool(self.pins)


VOICE_HAT: Final = Board(
    id=BoardId.VOICE_HAT,
    name="Voice HAT (v1)",
    button_pin=23,
    led=LedKind.GPIO,
    led_pin=25,
    amp_pin=16,
    audio=AudioDefaults(
        alsa_card="sndrpigooglevoi",
        alsa_capture="plughw:CARD=sndrpigooglevoi,DEV=0",
        alsa_playback="plughw:CARD=sndrpigooglevoi,DEV=0",
        rate=48000,
        card_names=("sndrpigooglevoi", "googlevoicehat"),
        note=(
            "I2S through the googlevoicehat-soundcard overlay (mainline Raspberry Pi kernel); "
            "the hardware takes only 48 kHz, 2 channels, S32_LE: plughw converts"
        ),
    ),
)

VOICE_BONNET: Final = Board(
    id=BoardId.VOICE_BONNET,
    name="Voice Bonnet (v2)",
    button_pin=23,
    led=LedKind.KTD202X,
    amp_pin=16,
    audio=AudioDefaults(
        alsa_card="aiyvoicebonnet",
        alsa_capture="plughw:CARD=aiyvoicebonnet,DEV=0",
        alsa_playback="plughw:CARD=aiyvoicebonnet,DEV=0",
        rate=48000,
        card_names=("aiyvoicebonnet", "voicebonnet", "rt5645"),
        note=(
            "rt5645 codec behind an out-of-tree DKMS driver (Google's targets kernel 5.4; "
            "unverified on newer kernels); 8-96 kHz, S16_LE"
        ),
    ),
)

NO_KIT: Final = Board(id=BoardId.NONE, name="No kit")

BOARDS: Final[Mapping[BoardId, Board]] = MappingProxyType(
    {board.id: board for board in (VOICE_HAT, VOICE_BONNET, NO_KIT)}
)
"""The fixed profiles; `custom_board()` makes the custom one."""

CUSTOM_DEFAULTS: Final = VOICE_HAT
"""What the custom form starts from: the HAT's pins (button 23, LED 25, amplifier 16)."""

type BoardErrorReason = Literal["pin_out_of_range", "pin_twice", "no_parts", "unknown_board"]


class BoardError(ValueError):
    """Settings that make no board: `reason` for code, `detail` (also `str()`) for people."""

    def __init__(self, reason: BoardErrorReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: BoardErrorReason = reason
        self.detail = detail


def custom_board(
    button_pin: int | None,
    led_pin: int | None = None,
    amp_pin: int | None = None,
    *,
    button_pull_up: bool = True,
    led_active_high: bool = True,
    pwm_frequency: int = 100,
) -> Board:
    """A home-made kit: any of a button, a single-colour LED and an amplifier enable."""
    pins = {"button": button_pin, "LED": led_pin, "amplifier": amp_pin}
    used = {part: pin for part, pin in pins.items() if pin is not None}
    if not used:
        raise BoardError("no_parts", "custom pins need at least a button, an LED or an amplifier")
    for part, pin in used.items():
        if pin not in GPIO_PINS:
            raise BoardError(
                "pin_out_of_range", f"the {part} pin {pin} is not a GPIO (BCM 0-27) of the header"
            )
    taken: dict[int, str] = {}
    for part, pin in used.items():
        if pin in taken:
            raise BoardError("pin_twice", f"GPIO{pin} is given for the {taken[pin]} and the {part}")
        taken[pin] = part
    return Board(
        id=BoardId.CUSTOM,
        name="Custom pins",
        button_pin=button_pin,
        button_pull_up=button_pull_up,
        led=LedKind.GPIO if led_pin is not None else LedKind.NONE,
        led_pin=led_pin,
        led_active_high=led_active_high,
        pwm_frequency=pwm_frequency,
        amp_pin=amp_pin,
    )


def board_for(
    board_id: BoardId | str,
    *,
    button_pin: int | None = None,
    led_pin: int | None = None,
    amp_pin: int | None = None,
) -> Board:
    """The profile a form's choice names; the pins count only for `custom`."""
    try:
        chosen = BoardId(board_id)
    except ValueError:
        raise BoardError("unknown_board", f"no board is called {board_id!r}") from None
    if chosen is BoardId.CUSTOM:
        return custom_board(button_pin, led_pin, amp_pin)
    return BOARDS[chosen]
