"""What a user heard of an answer: seconds played, turned into the words of its transcript."""

from __future__ import annotations

from custom_components.aiy_realtime.realtime.playback import Playback

TEXT = "The kitchen light is on, and the oven will be warm in ten minutes."


def test_an_answer_played_to_its_end_is_heard_whole() -> None:
    playback = Playback()
    playback.started("r1", now=10.0)
    playback.ended("r1", whole=True, now=12.0)

    assert playback.heard("r1", TEXT) == TEXT


def test_an_answer_cut_short_keeps_what_played_up_to_a_word() -> None:
    playback = Playback()
    playback.chars_per_second = 10.0
    playback.started("r1", now=10.0)
    playback.ended("r1", whole=False, now=12.0)  # 2 s: about 20 characters

    assert playback.heard("r1", TEXT) == "The kitchen light is…"


def test_an_answer_cut_before_a_word_played_was_not_heard() -> None:
    playback = Playback()
    playback.started("r1", now=10.0)
    playback.ended("r1", whole=False, now=10.0)

    assert playback.heard("r1", TEXT) == ""


def test_the_rate_is_learned_from_answers_played_whole() -> None:
    playback = Playback()
    fast = "x" * 60  # 30 characters a second

    for n in range(20):
        playback.started(f"r{n}", now=0.0)
        playback.ended(f"r{n}", whole=True, now=2.0)
        playback.heard(f"r{n}", fast)

    assert abs(playback.chars_per_second - 30.0) < 0.1
