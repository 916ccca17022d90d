"""Spoken prompts: every fixed text and every citizen screen's title+prompt has a real,
non-silent espeak-ng clip in the cache (measured with sox), Sorani is never spoken with
the Kurmanji voice, and the real app plays a screen's clip when the screen opens, a
button's label on tap-and-hold, the prompt again from the speaker button, at the volume
setting. The audio device may be absent on a test machine: `Speech.played` records
what was played and the test checks the clip file itself."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from contract.errors import UrError
from kiosk import i18n, speech
from kiosk.speech import Speech

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # SDL's null sink, if audio is not set up yet

from tests.ui_fixtures import FixtureServices  # noqa: E402 - after the audio driver choice
from tests.ui_harness import Harness  # noqa: E402


def rms(clip: Path) -> float:
    """sox's RMS amplitude of the clip (0.0 = silence)."""
    out = subprocess.run(["sox", str(clip), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    m = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", out)
    assert m, f"no RMS in sox output for {clip}: {out[:200]}"
    return float(m.group(1))


def citizen_prompts(lang: str) -> list[str]:
    """Title + prompt of every citizen screen with fixed texts, as the app speaks them."""
    from kiosk.screens.citizen import CITIZEN_SCREENS

    texts = []
    for cls in CITIZEN_SCREENS:
        keys = [k for k in (cls.title_key, cls.prompt_key) if k]
        if keys:
            texts.append(". ".join(i18n.tr(k, lang) for k in keys))
    return texts


def test_voices_arabic_english_and_no_kurmanji_for_sorani() -> None:
    assert speech.voice_for("ar") == "ar"
    assert speech.voice_for("en") == "en-gb"
    assert "ku" in speech.installed_voices(), "espeak-ng's Kurmanji voice is installed ..."
    assert speech.voice_for("ckb") is None, "... and must never speak Sorani"


def test_every_prompt_and_label_has_a_non_silent_clip(tmp_path: Path) -> None:
    texts = [*speech.screen_texts(), *((lang, t) for lang in ("ar", "en") for t in citizen_prompts(lang))]
    assert len({t for lang, t in texts if lang == "ar"}) > 100  # the catalogue, not a handful
    clips = speech.build_cache(tmp_path, texts)
    spoken = [(lang, t) for lang, t in texts if lang in ("ar", "en")]
    assert len(clips) == len(spoken)
    assert not any(lang == "ckb" for lang, _ in texts if speech.voice_for(lang))
    silent = [str(c) for c in set(clips) if rms(c) <= 0.0]
    assert not silent, f"silent clips: {silent[:5]}"
    # keyed by (text, voice): the same text in another voice is another clip, a repeat is the same
    assert speech.clip_path(tmp_path, "Back", "en-gb") != speech.clip_path(tmp_path, "Back", "ar")
    before = {p: p.stat().st_mtime_ns for p in clips}
    speech.build_cache(tmp_path, texts)
    assert all(p.stat().st_mtime_ns == t for p, t in before.items()), "cached clips were remade"


def test_volume_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UR_KIOSK_VOLUME", "35")
    assert Speech().volume == pytest.approx(0.35)
    for bad in ("loud", "140", "-1"):
        monkeypatch.setenv("UR_KIOSK_VOLUME", bad)
        with pytest.raises(UrError, match="UR_KIOSK_VOLUME"):
            Speech()


def last_played(h, text: str) -> speech.Played:
    return h.wait(lambda: next((p for p in reversed(h.app.speech.played) if p.text == text), None),
                  timeout=30, what=f"clip {text!r} to play")


def test_screens_speak_on_open_hold_reads_label_speaker_repeats(tmp_path: Path) -> None:
    h = Harness(FixtureServices(), lang="en", speech=Speech(cache_dir=tmp_path, volume=0.4))
    app = h.app
    h.tap("home.verify", to="verify")
    want = "Verify a document. Hold the document's QR code under the scanner"
    p = last_played(h, want)
    assert p.voice == "en-gb" and p.volume == pytest.approx(0.4)
    assert p.clip == speech.clip_path(tmp_path, want, "en-gb") and rms(p.clip) > 0

    h.tap("lang.ar")  # the same screen, now read in Arabic
    p = last_played(h, citizen_prompts("ar")[[*citizen_prompts("en")].index(want)])
    assert p.voice == "ar" and rms(p.clip) > 0

    h.tap("strip.home", to="home")
    h.hold("home.track")  # tap-and-hold reads the label and does not open the screen
    p = last_played(h, i18n.tr("home.track", "ar"))
    assert h.screen == "home" and rms(p.clip) > 0

    n = len(app.speech.played)
    h.tap("strip.speak")  # the speaker button reads this screen again
    h.wait(lambda: len(app.speech.played) > n, timeout=30, what="the prompt again")
    assert app.speech.played[-1].text == ". ".join((i18n.tr("home.title", "ar"), i18n.tr("home.subtitle", "ar")))

    h.tap("home.track", to="track")  # a plain tap still acts
    last_played(h, ". ".join((i18n.tr("track.title", "ar"), i18n.tr("track.scan_hint", "ar"))))
    n = len(app.speech.played)
    h.tap("lang.ckb")  # Sorani: no voice, said on screen, nothing spoken with Kurmanji
    assert "strip.speak" not in h.ids()
    assert h.text("strip.no_voice") == i18n.tr("speech.no_voice", "ckb")
    assert app.speech.unspoken and app.speech.unspoken[-1][0] == "ckb"
    h.frames(5)
    assert len(app.speech.played) == n
    assert all(p.voice in ("ar", "en-gb") for p in app.speech.played)
