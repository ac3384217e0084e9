"""Reading what pactl and arecord/aplay print (samples shaped like a Pi with a Voice HAT)."""

from __future__ import annotations

import json

from custom_components.aiy_realtime.hardware.device_listings import (
    AudioDevice,
    alsa_card_devices,
    alsa_pcms,
    merged,
    pactl_defaults,
    pactl_json_devices,
    pactl_short_devices,
)

ARECORD_L = """\
**** List of CAPTURE Hardware Devices ****
card 1: sndrpigooglevoi [snd_rpi_googlevoicehat_soundcard], device 0: Google voiceHAT SoundCard HiFi voicehat-hifi-0 [Google voiceHAT SoundCard HiFi voicehat-hifi-0]
  Subdevices: 1/1
  Subdevice #0: subdevice #0
card 2: Device [USB PnP Sound Device], device 0: USB Audio [USB Audio]
  Subdevices: 1/1
  Subdevice #0: subdevice #0
"""  # noqa: E501 - as arecord prints it

ARECORD_CAPITAL_L = """\
null
    Discard all samples (playback) or generate zero samples (capture)
default
    Playback/recording through the PulseAudio sound server
sysdefault:CARD=sndrpigooglevoi
    snd_rpi_googlevoicehat_soundcard,
    Default Audio Device
surround51:CARD=Device,DEV=0
    USB PnP Sound Device, USB Audio
    5.1 Surround output to Front, Center, Rear and Subwoofer speakers
plughw:CARD=sndrpigooglevoi,DEV=0
    snd_rpi_googlevoicehat_soundcard,
    Hardware device with all software conversions
"""


def test_cards_become_their_plughw_names() -> None:
    assert alsa_card_devices(ARECORD_L) == [
        AudioDevice(
            "plughw:CARD=sndrpigooglevoi,DEV=0",
            "snd_rpi_googlevoicehat_soundcard: Google voiceHAT SoundCard HiFi voicehat-hifi-0",
        ),
        AudioDevice("plughw:CARD=Device,DEV=0", "USB PnP Sound Device: USB Audio"),
    ]
    assert alsa_card_devices("arecord: device_list:274: no soundcards found...") == []


def test_pcms_keep_their_descriptions_and_drop_surround_outputs() -> None:
    pcms = alsa_pcms(ARECORD_CAPITAL_L)
    assert [pcm.name for pcm in pcms] == [
        "null",
        "default",
        "sysdefault:CARD=sndrpigooglevoi",
        "plughw:CARD=sndrpigooglevoi,DEV=0",
    ]
    assert pcms[2].description == "snd_rpi_googlevoicehat_soundcard, Default Audio Device"


def test_merging_keeps_the_first_description_of_a_name() -> None:
    devices = merged(alsa_card_devices(ARECORD_L), alsa_pcms(ARECORD_CAPITAL_L))
    names = [device.name for device in devices]
    assert names[0] == "plughw:CARD=sndrpigooglevoi,DEV=0"
    assert names.count("plughw:CARD=sndrpigooglevoi,DEV=0") == 1
    assert devices[0].description.startswith("snd_rpi_googlevoicehat_soundcard: Google")


def test_pactl_json_puts_monitors_after_real_inputs() -> None:
    text = json.dumps(
        [
            {
                "name": "alsa_output.platform-soc_sound.stereo-fallback.monitor",
                "description": "Monitor of Voice HAT",
                "properties": {"device.class": "monitor"},
            },
            {"name": "alsa_input.platform-soc_sound.stereo-fallback", "description": "Voice HAT"},
        ]
    )
    assert pactl_json_devices(text) == [
        AudioDevice("alsa_input.platform-soc_sound.stereo-fallback", "Voice HAT"),
        AudioDevice(
            "alsa_output.platform-soc_sound.stereo-fallback.monitor", "Monitor of Voice HAT"
        ),
    ]


def test_pactl_without_json_gives_names() -> None:
    text = "1\tkit_speaker.monitor\tmodule-null-sink.c\ts16le 2ch 44100Hz\tIDLE\n"
    text += "0\tusb_mic\tmodule-alsa-card.c\ts16le 1ch 48000Hz\tSUSPENDED\n"
    assert pactl_short_devices(text) == [
        AudioDevice("usb_mic", "usb_mic"),
        AudioDevice("kit_speaker.monitor", "kit_speaker.monitor"),
    ]


def test_pactl_info_gives_the_defaults() -> None:
    info = json.dumps({"default_sink_name": "kit_speaker", "default_source_name": "kit_mic"})
    assert pactl_defaults(info) == ("kit_mic", "kit_speaker")
    assert pactl_defaults("{}") == (None, None)
