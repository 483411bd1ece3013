"""The `piano_roll` writer: a picture of the notes, one colour per voice.

A piano roll shows at a glance what a score takes reading to see: the range
and crossing of the voices, the rhythm, where the primer ends and how the
model went on. Time runs in quarter notes with the bar lines of the piece's
metre; pitch is the MIDI number with the Cs labelled.
"""

import collections.abc
import io
from typing import List, Sequence, Tuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import is_color_like
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from polyframe import checks
from polyframe.registries import WRITERS
from polyframe.writer import (Fraction, GeneratedPiece, QuarterNote, Writer,
                              write_bytes)

# Colour-blind-safe colours (Okabe & Ito), one per voice, then repeating.
DEFAULT_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00",
                   "#56B4E9", "#F0E442", "#000000")
_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_OWNER = "writers.piano_roll"


@WRITERS.register("piano_roll")
class PianoRollWriter(Writer):
    """Writes `<stem>.png`.

    Args:
        inches_per_quarter: Width of a quarter note; the figure is between
            `min_width` and `max_width` inches wide.
        height: Figure height in inches.
        dpi: Pixels per inch.
        min_width: Narrowest figure, in inches.
        max_width: Widest figure, in inches (at least `min_width`).
        colours: Matplotlib colours by voice (at least one; voices past the
            list start it again).

    Raises:
        checks.ConfigurationError: if an argument has the wrong type or lies
            out of range, or a colour is not one matplotlib knows.
    """

    extension = ".png"

    def __init__(self, inches_per_quarter: float = 0.25, height: float = 4.0,
                 dpi: int = 100, min_width: float = 6.0, max_width: float = 40.0,
                 colours: Sequence[str] = DEFAULT_COLOURS):
        self.inches_per_quarter = checks.real(_OWNER, "inches_per_quarter",
                                              inches_per_quarter, above=0)
        self.height = checks.real(_OWNER, "height", height, above=0)
        self.dpi = checks.real(_OWNER, "dpi", dpi, above=0)
        self.min_width = checks.real(_OWNER, "min_width", min_width, above=0)
        self.max_width = checks.real(_OWNER, "max_width", max_width,
                                     minimum=self.min_width)
        self.colours = _check_colours(colours)

    def write(self, piece: GeneratedPiece) -> List[str]:
        figure = self.draw(piece)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=self.dpi)
        return [write_bytes(self.path(piece), buffer.getvalue())]

    def draw(self, piece: GeneratedPiece) -> Figure:
        """The piano roll as a matplotlib figure (Agg canvas, no pyplot)."""
        notes = piece.quarter_notes()
        end = max(piece.length_quarters, piece.primer_end_quarters or 0,
                  piece.bar_quarters)
        width = min(max(self.min_width, float(end) * self.inches_per_quarter + 2),
                    self.max_width)
        figure = Figure(figsize=(width, self.height))
        FigureCanvasAgg(figure)
        # Fixed margins (inches) leave room for the labels and the legend
        # at any width; a layout engine would draw the figure twice.
        figure.subplots_adjust(left=0.8 / width, right=1 - 1.3 / width,
                               bottom=0.55 / self.height, top=1 - 0.4 / self.height)
        axes = figure.add_subplot()
        handles = []
        if piece.primer_end_quarters:
            axes.axvspan(0, float(piece.primer_end_quarters), color="0.85", zorder=0)
            handles.append(Patch(facecolor="0.85", label="primer"))
        for start in _bar_lines(piece.pickup_quarters, piece.bar_quarters, end):
            axes.axvline(float(start), color="0.6", linewidth=0.6, zorder=1)
        for voice in range(piece.num_voices):
            colour = self.colours[voice % len(self.colours)]
            # One collection per voice: a patch per note is ten times slower.
            axes.add_collection(PolyCollection(
                    [_box(n) for n in notes if n.voice == voice],
                    facecolors=colour, edgecolors="white", linewidths=0.3,
                    zorder=2))
            handles.append(Patch(facecolor=colour, label=piece.voice_name(voice)))
        pitches = [n.pitch for n in notes] or [60]
        low, high = min(pitches) - 2, max(pitches) + 2
        axes.set_xlim(0, float(end))
        axes.set_ylim(low, high)
        cs = [p for p in range(low, high + 1) if p % 12 == 0]
        axes.set_yticks(cs, [f"{_NAMES[p % 12]}{p // 12 - 1}" for p in cs])
        axes.set_xlabel("quarter notes")
        axes.set_ylabel("pitch")
        if piece.title:
            axes.set_title(piece.title)
        axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                    fontsize="small", frameon=False)
        return figure


def _check_colours(colours: Sequence[str]) -> Tuple[str, ...]:
    """Checks a non-empty list of colours matplotlib knows; returns them as a tuple.

    Raises:
        checks.ConfigurationError: naming the list, or the bad colour as
            `colours[index]`, and the value.
    """
    if (isinstance(colours, (str, bytes)) or
            not isinstance(colours, collections.abc.Sequence) or not colours):
        raise checks.ConfigurationError(
                f"{_OWNER}.colours must be a non-empty list of matplotlib colours, "
                f"got {colours!r}.")
    for index, colour in enumerate(colours):
        if not is_color_like(colour):
            raise checks.ConfigurationError(
                    f"{_OWNER}.colours[{index}] must be a matplotlib colour (a name "
                    f"such as 'red', '#RRGGBB' or an RGB tuple), got {colour!r}.")
    return tuple(colours)


def _box(note: QuarterNote) -> List[Tuple[float, float]]:
    """The corners of a note's bar: its length, 0.8 semitones high."""
    left, right = float(note.onset), float(note.end)
    return [(left, note.pitch - 0.4), (right, note.pitch - 0.4),
            (right, note.pitch + 0.4), (left, note.pitch + 0.4)]


def _bar_lines(pickup: Fraction, bar: Fraction, end: Fraction) -> List[Fraction]:
    """Where bars start: after the pickup, then every bar, up to `end`."""
    start = pickup if pickup else bar
    lines = []
    while start < end:
        lines.append(start)
        start += bar
    return lines
