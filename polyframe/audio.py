"""Renders MIDI files to WAV so samples can be listened to anywhere.

Three renderers, best first: the `fluidsynth` program and the `timidity`
program, both playing a General MIDI soundfont (pretty_midi ships one), and a
small synthesizer built on pretty_midi that needs nothing installed. With
`renderer="auto"` the first one that is installed and produces sound wins; a
renderer that fails, times out or writes silence is skipped with a warning.
"""

import contextlib
import numbers
import os
import secrets
import shutil
import subprocess
import tempfile
from typing import Callable, Dict, Iterator, Optional, Sequence
import wave

from absl import logging
import numpy as np
import pretty_midi

from polyframe.errors import UserFacingError

FLUIDSYNTH = "fluidsynth"
TIMIDITY = "timidity"
BUILTIN = "builtin"
AUTO = "auto"
RENDERERS = (FLUIDSYNTH, TIMIDITY, BUILTIN)

# Searched in order; the system soundfonts sound better than the small one
# pretty_midi ships, which is the last resort.
SOUNDFONT_CANDIDATES = (
        "/usr/share/sounds/sf2/FluidR3_GM.sf2",
        "/usr/share/soundfonts/FluidR3_GM.sf2",
        "/usr/share/sounds/sf2/default-GM.sf2",
        "/usr/share/soundfonts/default.sf2",
        os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2"),
)

_INSTALL_HINTS = {
        FLUIDSYNTH: "install FluidSynth (e.g. 'apt-get install fluidsynth' or "
                    "'brew install fluid-synth')",
        TIMIDITY: "install TiMidity++ (e.g. 'apt-get install timidity' or "
                  "'brew install timidity')",
}

# Relative strengths of the partials of the built-in synthesizer's tone. A
# pure sine sounds thin and whistly; a few decaying harmonics give a soft,
# reed-organ-like tone that keeps four voices distinguishable.
_HARMONIC_AMPLITUDES = (1.0, 0.5, 0.25, 0.12, 0.06)
# Peak level of the built-in renderer's output, leaving headroom below full scale.
_PEAK = 0.9


class _RenderError(Exception):
    """A renderer ran but did not produce usable audio."""


def render_wav(midi_path: str,
               wav_path: str,
               sample_rate: int = 22050,
               renderer: str = AUTO,
               soundfont: Optional[str] = None,
               timeout_s: float = 300.0) -> str:
    """Renders the MIDI file `midi_path` to the WAV file `wav_path`.

    The WAV is written through a temporary file in the same directory and
    moved into place only once it is complete (and, from an external
    renderer, not silent), so `wav_path` never holds a partial file.

    Args:
        midi_path: The MIDI file to render.
        wav_path: Where to write the WAV file.
        sample_rate: Samples per second of the output.
        renderer: "auto" (fluidsynth, then timidity, then builtin: the first
            that works), or one of "fluidsynth", "timidity", "builtin" to use
            exactly that one, with no fallback.
        soundfont: General MIDI SoundFont (.sf2) for the external renderers;
            by default the first of `SOUNDFONT_CANDIDATES` that exists.
        timeout_s: How long an external renderer may run before it counts as
            failed.

    Returns:
        The name of the renderer that wrote the file.

    Raises:
        UserFacingError: if `renderer` is unknown, a requested external
            renderer is not installed or fails, `soundfont` does not exist, or
            `midi_path` cannot be read.
        ValueError: if `sample_rate` is not a positive integer.
    """
    if not os.path.isfile(midi_path):
        raise UserFacingError(f"cannot render {midi_path!r}: no such MIDI file.")
    if not isinstance(sample_rate, numbers.Integral) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}.")
    if soundfont is not None and not os.path.isfile(soundfont):
        raise UserFacingError(f"soundfont {soundfont!r} does not exist.")
    if renderer != AUTO and renderer not in RENDERERS:
        raise UserFacingError(
                f"unknown audio renderer {renderer!r}; choose one of "
                f"{', '.join((AUTO,) + RENDERERS)}.")
    if renderer in _INSTALL_HINTS and shutil.which(renderer) is None:
        raise UserFacingError(
                f"audio renderer {renderer!r} was requested but the '{renderer}' "
                f"program is not on PATH: {_INSTALL_HINTS[renderer]}, or use "
                f"renderer='{BUILTIN}' or '{AUTO}'.")

    renderers: Dict[str, Callable[[str], None]] = {
            FLUIDSYNTH: lambda out: _run_fluidsynth(
                    midi_path, out, sample_rate, soundfont, timeout_s),
            TIMIDITY: lambda out: _run_timidity(
                    midi_path, out, sample_rate, soundfont, timeout_s),
            BUILTIN: lambda out: _synthesize(midi_path, out, sample_rate),
    }
    if renderer == AUTO:
        candidates = [name for name in RENDERERS
                      if name == BUILTIN or shutil.which(name) is not None]
    else:
        candidates = [renderer]

    for name in candidates:
        try:
            with _atomic_output_path(wav_path) as temporary:
                renderers[name](temporary)
                if name != BUILTIN:  # The builtin one renders an empty piece as silence.
                    _check_audible(temporary)
        except _RenderError as error:
            if renderer != AUTO:
                raise UserFacingError(f"audio renderer {name!r} failed on "
                                      f"{midi_path!r}: {error}") from None
            logging.warning("Audio renderer %s failed on %s (%s); trying the next one.",
                            name, midi_path, error)
            continue
        logging.info("Rendered %s to %s with %s.", midi_path, wav_path, name)
        return name
    # Only reached when even the builtin renderer failed: unreadable MIDI.
    raise UserFacingError(f"no audio renderer could render {midi_path!r}; "
                          "see the warnings above.")


@contextlib.contextmanager
def _atomic_output_path(path: str) -> Iterator[str]:
    """Yields a temporary path that replaces `path` when the block succeeds.

    The temporary file lives in the same directory as `path` (so `os.replace`
    is an atomic rename) and keeps its extension (so programs that pick the
    format from the name still work). If the block raises, the temporary file
    is removed and `path` is left untouched. Missing parent directories are
    created.

    Args:
        path: Where the finished file should end up.

    Yields:
        The temporary path to write to. It does not exist yet.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    stem, extension = os.path.splitext(os.path.basename(path))
    temporary = os.path.join(
            directory, f".{stem}.{secrets.token_hex(6)}.tmp{extension}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def find_soundfont(candidates: Sequence[str] = SOUNDFONT_CANDIDATES) -> Optional[str]:
    """Returns the first existing soundfont among `candidates`, or None."""
    return next((path for path in candidates if os.path.isfile(path)), None)


def _soundfont_or_fail(soundfont):
    soundfont = soundfont or find_soundfont()
    if soundfont is None:
        raise _RenderError("no General MIDI soundfont found; looked at "
                           + ", ".join(SOUNDFONT_CANDIDATES))
    return soundfont


def _run_fluidsynth(midi_path, wav_path, sample_rate, soundfont, timeout_s):
    _run([FLUIDSYNTH, "-n", "-i",
          "-F", wav_path, "-T", "wav", "-O", "s16",
          "-r", str(sample_rate), _soundfont_or_fail(soundfont), midi_path],
         timeout_s)


def _run_timidity(midi_path, wav_path, sample_rate, soundfont, timeout_s):
    """Runs timidity with the soundfont given to it in a configuration file.

    Passing the soundfont makes timidity sound like fluidsynth and work even
    where its own patch set is missing (a bare Debian install points its
    configuration at a soundfont package that is only recommended).
    """
    soundfont = _soundfont_or_fail(soundfont)
    with tempfile.TemporaryDirectory() as directory:
        config = os.path.join(directory, "timidity.cfg")
        with open(config, "w", encoding="utf-8") as stream:
            stream.write(f'soundfont "{soundfont}"\n')
        _run([TIMIDITY, "-c", config, "-Ow", "-s", str(sample_rate),
              "-o", wav_path, midi_path], timeout_s)


def _run(command, timeout_s):
    """Runs an external renderer; any failure becomes a `_RenderError`."""
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise _RenderError(f"timed out after {timeout_s:g}s") from None
    except OSError as error:
        raise _RenderError(f"could not start {command[0]}: {error}") from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode(errors="replace").strip()
        raise _RenderError(f"exit status {result.returncode}: {output[-500:]}")


def _check_audible(wav_path):
    """Raises `_RenderError` unless `wav_path` is a PCM WAV with some sound."""
    if not os.path.isfile(wav_path):
        raise _RenderError("it wrote no file")
    try:
        with wave.open(wav_path, "rb") as reader:
            if reader.getnframes() == 0:
                raise _RenderError("it wrote an empty WAV file")
            # 8-bit WAV is unsigned, centred on 128; wider samples are signed.
            silence = 128 if reader.getsampwidth() == 1 else 0
            while True:
                chunk = reader.readframes(1 << 16)
                if not chunk:
                    raise _RenderError("it wrote a silent WAV file")
                if np.any(np.frombuffer(chunk, dtype=np.uint8) != silence):
                    return
    except (wave.Error, EOFError) as error:
        raise _RenderError(f"it wrote an unreadable WAV file ({error})") from None


def _synthesize(midi_path, wav_path, sample_rate):
    """The built-in renderer: additive synthesis, 16-bit mono PCM."""
    try:
        midi = pretty_midi.PrettyMIDI(midi_path)
    except Exception as error:  # pretty_midi/mido raise many types on bad files.
        raise _RenderError(f"cannot read the MIDI file ({error})") from None
    # Without normalisation pretty_midi only rescales by a constant; the peak
    # is set here instead, which also copes with a piece without notes.
    samples = midi.synthesize(fs=sample_rate, wave=_soft_tone, normalize=False)
    peak = np.max(np.abs(samples)) if samples.size else 0.0
    if peak > 0:
        samples = samples * (_PEAK / peak)
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(wav_path, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(int(sample_rate))
        writer.writeframes(pcm.tobytes())


def _soft_tone(phase: np.ndarray) -> np.ndarray:
    """A periodic waveform (period 2*pi) made of a few decaying harmonics."""
    tone = np.zeros_like(phase, dtype=np.float64)
    for harmonic, amplitude in enumerate(_HARMONIC_AMPLITUDES, start=1):
        tone += amplitude * np.sin(harmonic * phase)
    return tone / sum(_HARMONIC_AMPLITUDES)
