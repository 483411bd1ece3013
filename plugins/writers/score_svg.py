"""The `score_svg` writer: the MusicXML score engraved as one SVG image.

Verovio engraves `<stem>.musicxml` (written first by the `musicxml` writer
when both are chosen) into SVG, a format every browser shows and that stays
sharp at any zoom. The music is laid out as one tall page; should Verovio
still need several pages, they are stacked into one SVG, so the gallery can
show the whole score with a single image.
"""

import collections.abc
import dataclasses
import os
import re
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence

import verovio

from polyframe import checks
from polyframe.registries import WRITERS
from polyframe.writer import GeneratedPiece, Writer, write_bytes
from polyframe_plugins.writers.musicxml import MusicXmlWriter

# Verovio's units are tenths of a staff space scaled by `scale` percent: a
# 2100-unit page at 40 % is 840 px wide, about four bars of a chorale per
# system, readable on a laptop screen.
DEFAULT_OPTIONS = {
        "pageHeight": 60000,        # Verovio's largest page: one page per piece.
        "adjustPageHeight": True,   # ... cut to the music's height.
        "breaks": "auto",
        "footer": "none",           # No "engraved by" page footer.
}
# Verovio's bounds; it replaces a value outside them by its default.
_SCALE_RANGE = (1, 1000)
_PAGE_WIDTH_RANGE = (100, 100000)
_OWNER = "writers.score_svg"
_SIZE = re.compile(r'^<svg\b[^>]*?\bwidth="([\d.]+)px"[^>]*?\bheight="([\d.]+)px"')


@WRITERS.register("score_svg")
class ScoreSvgWriter(Writer):
    """Writes `<stem>.svg` from `<stem>.musicxml`.

    When `<stem>.musicxml` does not exist (the `musicxml` writer was not
    chosen), the score is written with that writer's defaults into a
    temporary folder and engraved from there.

    Args:
        scale: Size of the engraving in percent of Verovio's default
            (1-1000).
        page_width: Page width in Verovio units (100-100000; see
            DEFAULT_OPTIONS).
        options: More Verovio options, overriding the defaults; Verovio
            checks them when the first score is engraved.

    Raises:
        checks.ConfigurationError: if `scale` or `page_width` is not a whole
            number in Verovio's range, or `options` is not a mapping.
    """

    extension = ".svg"
    reads = (".musicxml",)

    def __init__(self, scale: int = 40, page_width: int = 2100,
                 options: Optional[Mapping[str, Any]] = None):
        scale = checks.integer(_OWNER, "scale", scale, minimum=_SCALE_RANGE[0],
                               maximum=_SCALE_RANGE[1])
        page_width = checks.integer(_OWNER, "page_width", page_width,
                                    minimum=_PAGE_WIDTH_RANGE[0],
                                    maximum=_PAGE_WIDTH_RANGE[1])
        if options is not None and not isinstance(options, collections.abc.Mapping):
            raise checks.ConfigurationError(
                    f"{_OWNER}.options must be a mapping of Verovio options or None, "
                    f"got {options!r}.")
        self.options: Dict[str, Any] = dict(DEFAULT_OPTIONS, scale=scale,
                                            pageWidth=page_width)
        self.options.update(options or {})
        self._toolkit = None

    def write(self, piece: GeneratedPiece) -> List[str]:
        score_path = piece.stem + MusicXmlWriter.extension
        if os.path.isfile(score_path):
            svg = self.engrave(score_path)
        else:
            with tempfile.TemporaryDirectory() as folder:
                temporary = dataclasses.replace(
                        piece, stem=os.path.join(folder, "piece"))
                svg = self.engrave(MusicXmlWriter().write(temporary)[0])
        return [write_bytes(self.path(piece), svg.encode("utf-8"))]

    def engrave(self, score_path: str) -> str:
        """Returns the SVG of the score in `score_path`, all pages in one.

        Raises:
            ValueError: if Verovio cannot read the file.
        """
        toolkit = self._get_toolkit()
        if not toolkit.loadFile(score_path):
            raise ValueError(f"Verovio could not read the score {score_path!r}.")
        pages = [toolkit.renderToSVG(page)
                 for page in range(1, toolkit.getPageCount() + 1)]
        return pages[0] if len(pages) == 1 else stack_pages(pages)

    def _get_toolkit(self) -> "verovio.toolkit":
        if self._toolkit is None:  # Made on first use: writers are built early.
            verovio.enableLog(verovio.LOG_ERROR)
            self._toolkit = verovio.toolkit()
            self._toolkit.setOptions(self.options)
        return self._toolkit

    def __repr__(self) -> str:
        return f"ScoreSvgWriter(scale={self.options['scale']})"


def stack_pages(pages: Sequence[str]) -> str:
    """One SVG with `pages` (Verovio SVG documents) one below the other."""
    sizes = []
    for page in pages:
        match = _SIZE.match(page.lstrip())
        if match is None:
            raise ValueError("a Verovio page has no width and height in px.")
        sizes.append((float(match.group(1)), float(match.group(2))))
    width = max(w for w, _ in sizes)
    inner, top = [], 0.0
    for page, (_, height) in zip(pages, sizes):
        body = re.sub(r"^\s*(<\?xml[^>]*\?>)?\s*<svg\b", f'<svg x="0" y="{top:g}"',
                      page, count=1)
        inner.append(body)
        top += height
    return (f'<svg xmlns="http://www.w3.org/2000/svg" '
            f'xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" '
            f'width="{width:g}px" height="{top:g}px" '
            f'viewBox="0 0 {width:g} {top:g}">\n' + "\n".join(inner) + "\n</svg>\n")
