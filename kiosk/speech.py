"""Spoken prompts for citizens who cannot read: espeak-ng clips, cached, played by Kivy.

Each text is synthesized once per voice by espeak-ng (Debian) into a WAV file in
a cache keyed by (text, voice), ahead of time for every fixed screen text
(`build_cache`, run by the app at start-up and by `python -m kiosk.speech build`)
and on first use for texts with data in them. Clips are played through Kivy's
SDL2 audio (`SoundLoader`) at the kiosk's volume setting; every clip the app asks
to play is recorded in `Speech.played` (the seam tests read, since a test machine
may have no audio device: the clip file is still real and checked).

Voices: espeak-ng speaks Arabic (`ar`) and English (`en-gb`). It has no Sorani
(Central Kurdish, `ckb`) voice: its `ku` voice is Kurmanji, in Latin script, and
would mis-speak Sorani, so it is never used. `voice_for("ckb")` looks for a voice
whose language is `ckb` in the installed espeak-ng and, finding none, the screens
say that prompts are not spoken in Sorani.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from contract.errors import UrError
from kiosk import i18n

ESPEAK = "espeak-ng"
VOICES: dict[str, str] = {"ar": "ar", "en": "en-gb"}  # language -> espeak-ng voice
NEVER: dict[str, frozenset[str]] = {"ckb": frozenset({"ku", "kmr"})}  # voices that would mis-speak
SPEED_WPM = 150  # a little slower than espeak's 175: prompts for people who may not read
SYNTH_TIMEOUT_S = 30.0
log = logging.getLogger("kiosk.speech")


def default_cache_dir() -> Path:
    env = os.environ.get("UR_KIOSK_SPEECH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ur-kiosk" / "speech"


def default_volume() -> float:
    """The volume setting: UR_KIOSK_VOLUME, 0-100 (default 80); a bad value is named."""
    raw = os.environ.get("UR_KIOSK_VOLUME", "80")
    try:
        value = float(raw)
    except ValueError:
        raise UrError(f"UR_KIOSK_VOLUME must be a number from 0 to 100, got {raw!r}") from None
    if not 0 <= value <= 100:
        raise UrError(f"UR_KIOSK_VOLUME must be from 0 to 100, got {raw!r}")
    return value / 100.0


@cache
def installed_voices() -> dict[str, str]:
    """language code -> voice name, from `espeak-ng --voices` ({} without espeak-ng)."""
    if shutil.which(ESPEAK) is None:
        return {}
    try:
        out = subprocess.run([ESPEAK, "--voices"], capture_output=True, text=True, timeout=SYNTH_TIMEOUT_S,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    voices: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            voices.setdefault(parts[1].lower(), parts[1])
    return voices


def voice_for(lang: str) -> str | None:
    """The espeak-ng voice for `lang`, or None when none can speak it correctly."""
    wanted = VOICES.get(lang, lang).lower()
    if wanted in NEVER.get(lang, frozenset()):
        return None
    return installed_voices().get(wanted)


def clip_path(cache_dir: Path, text: str, voice: str) -> Path:
    digest = hashlib.sha256(f"{voice}\0{SPEED_WPM}\0{text}".encode()).hexdigest()[:32]
    return cache_dir / voice / f"{digest}.wav"


def speakable(text: str) -> str:
    """The text without the invisible bidi isolates and with line breaks as pauses."""
    return re.sub(r"[\u2066-\u2069]", "", text).replace("\n", ". ").strip()


def synthesize(cache_dir: Path, text: str, voice: str) -> Path:
    """The cached clip for (text, voice), made by espeak-ng if missing (atomic rename,
    so a clip is either whole or absent)."""
    path = clip_path(cache_dir, text, voice)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    try:
        subprocess.run([ESPEAK, "-v", voice, "-s", str(SPEED_WPM), "-w", tmp, "--stdin"],
                       input=speakable(text), text=True, capture_output=True, timeout=SYNTH_TIMEOUT_S,
                       check=True)
        os.replace(tmp, path)
    except FileNotFoundError:
        raise UrError(f"{ESPEAK} is not installed (Debian package espeak-ng)") from None
    except subprocess.CalledProcessError as e:
        raise UrError(f"{ESPEAK} -v {voice} failed: {e.stderr.strip()[:200]}") from None
    except subprocess.TimeoutExpired:
        raise UrError(f"{ESPEAK} -v {voice} took over {SYNTH_TIMEOUT_S:.0f} s") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def build_cache(cache_dir: Path, texts: Iterable[tuple[str, str]]) -> list[Path]:
    """Synthesize every (lang, text) that has a voice; returns the clip files."""
    done: list[Path] = []
    for lang, text in texts:
        voice = voice_for(lang)
        if voice is not None and speakable(text):
            done.append(synthesize(cache_dir, text, voice))
    return done


@dataclass(frozen=True)
class Played:
    text: str
    lang: str
    voice: str
    clip: Path
    volume: float
    audible: bool  # False when the machine has no audio device (the clip is still real)


class Speech:
    """The app's speaker: `say(text, lang)` plays the cached clip (synthesizing it on a
    worker thread first if needed); the last clip is stopped when a new one starts."""

    def __init__(self, cache_dir: Path | None = None, volume: float | None = None, enabled: bool = True,
                 schedule: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        self.volume = default_volume() if volume is None else volume
        self.enabled = enabled
        self.played: list[Played] = []
        self.unspoken: list[tuple[str, str]] = []  # (lang, text) asked for with no voice for lang
        self._sound: Any = None
        self._schedule = schedule or _on_ui_thread
        self._want: tuple[str, str] | None = None

    def available(self, lang: str) -> bool:
        return voice_for(lang) is not None

    def say(self, text: str, lang: str) -> None:
        text = speakable(text)
        if not self.enabled or not text:
            return
        voice = voice_for(lang)
        if voice is None:
            self._want = None  # a clip still being made for the last screen is not played
            self.stop()
            self.unspoken.append((lang, text))
            return
        self._want = (text, voice)
        path = clip_path(self.cache_dir, text, voice)
        if path.exists():
            self._play(text, lang, voice, path)
            return

        def work() -> None:
            try:
                clip = synthesize(self.cache_dir, text, voice)
            except UrError as e:
                log.warning("no spoken prompt: %s", e)
                return
            self._schedule(lambda: self._play(text, lang, voice, clip))

        threading.Thread(target=work, name="kiosk-speech", daemon=True).start()

    def _play(self, text: str, lang: str, voice: str, clip: Path) -> None:
        if self._want != (text, voice):
            return  # the citizen moved on before the clip was ready: do not speak a stale prompt
        self.stop()
        audible = False
        try:
            from kivy.core.audio import SoundLoader

            sound = SoundLoader.load(str(clip))
            if sound is not None and sound.length > 0:
                sound.volume = self.volume
                sound.play()
                self._sound, audible = sound, True
        except Exception as e:  # noqa: BLE001 - no audio must never take the screen down
            log.warning("cannot play %s: %s", clip, e)
        self.played.append(Played(text, lang, voice, clip, self.volume, audible))

    def stop(self) -> None:
        if self._sound is not None:
            try:
                self._sound.stop()
                self._sound.unload()
            except Exception:  # noqa: BLE001
                pass
            self._sound = None


def _on_ui_thread(fn: Callable[[], None]) -> None:
    from kivy.clock import Clock

    Clock.schedule_once(lambda *_: fn(), 0)


def screen_texts() -> list[tuple[str, str]]:
    """Every fixed text a citizen can hear, per language with a voice: each catalogue
    text without data placeholders (titles, prompts, button labels)."""
    texts: list[tuple[str, str]] = []
    for lang in i18n.LANGS:
        for text in i18n.catalogue(lang).values():
            if "{" not in text:
                texts.append((lang, text))
    return texts


def main(argv: list[str] | None = None) -> int:
    """`python -m kiosk.speech build [DIR]`: fill the clip cache ahead of time."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "build" or len(args) > 2:
        print("usage: python -m kiosk.speech build [CACHE_DIR]", file=sys.stderr)
        return 2
    cache_dir = Path(args[1]) if len(args) == 2 else default_cache_dir()
    try:
        clips = build_cache(cache_dir, screen_texts())
    except UrError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    missing = sorted({lang for lang, _ in screen_texts() if voice_for(lang) is None})
    print(f"{len(clips)} clips in {cache_dir}" + (f"; no voice for: {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
