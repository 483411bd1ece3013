"""The `wav` writer: the piece's MIDI file rendered to audio.

Renders `<stem>.mid` (written first by the `midi` writer when both are
chosen) with `polyframe.audio.render_wav`: FluidSynth or TiMidity with a
General MIDI soundfont when installed, else a built-in synthesizer.
"""

import dataclasses
import os
import tempfile
from typing import List, Optional

from polyframe import audio, checks
from polyframe.registries import WRITERS
from polyframe.writer import GeneratedPiece, Writer
from polyframe_plugins.writers.midi import MidiWriter


@WRITERS.register("wav")
class WavWriter(Writer):
    """Writes `<stem>.wav` from `<stem>.mid`.

    When `<stem>.mid` does not exist (the `midi` writer was not chosen), a
    MIDI file is written with the `midi` writer's defaults into a temporary
    folder and rendered from there.

    Args:
        renderer: "auto" (the best installed), "fluidsynth", "timidity" or
            "builtin" (see `polyframe.audio.render_wav`).
        sample_rate: Samples per second.
        soundfont: A General MIDI .sf2 for the external renderers; None picks
            the first installed.
        timeout_s: How long an external renderer may run per piece, in
            seconds (> 0).

    Raises:
        checks.ConfigurationError: if an argument has the wrong type or lies
            out of range. Whether the renderer is installed and the
            soundfont exists is checked when a piece is rendered.
    """

    extension = ".wav"
    reads = (".mid",)

    def __init__(self, renderer: str = audio.AUTO, sample_rate: int = 22050,
                 soundfont: Optional[str] = None, timeout_s: float = 300.0):
        owner = "writers.wav"
        self.renderer = checks.choice(owner, "renderer", renderer,
                                      (audio.AUTO,) + audio.RENDERERS)
        self.sample_rate = checks.integer(owner, "sample_rate", sample_rate, minimum=1)
        self.soundfont = checks.text(owner, "soundfont", soundfont, optional=True)
        self.timeout_s = checks.real(owner, "timeout_s", timeout_s, above=0)

    def write(self, piece: GeneratedPiece) -> List[str]:
        midi_path = piece.stem + MidiWriter.extension
        if os.path.isfile(midi_path):
            return [self._render(midi_path, piece)]
        with tempfile.TemporaryDirectory() as folder:
            temporary = dataclasses.replace(
                    piece, stem=os.path.join(folder, "piece"))
            return [self._render(MidiWriter().write(temporary)[0], piece)]

    def _render(self, midi_path: str, piece: GeneratedPiece) -> str:
        path = self.path(piece)
        audio.render_wav(midi_path, path, sample_rate=self.sample_rate,
                         renderer=self.renderer, soundfont=self.soundfont,
                         timeout_s=self.timeout_s)  # It logs the renderer used.
        return path

    def __repr__(self) -> str:
        return f"WavWriter(renderer={self.renderer!r})"
