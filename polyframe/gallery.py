"""The gallery: one HTML page to see, hear and download a run's pieces.

`index.html` sits beside the pieces and shows the run (its config name and
NLL metrics), then every piece: its engraved score, its piano roll, an audio
player, download links and what is known about it (primer, length, NLL...).
It links only files that exist, with relative links, and needs no scripts
and no network, so the folder can be copied, zipped or served as it is.
"""

import html
import math
import numbers
import os
import urllib.parse
from typing import Any, Iterable, List, Mapping, Sequence, Tuple

from polyframe.writer import GeneratedPiece, write_bytes

INDEX = "index.html"
# Metadata keys shown in the piece's summary line, not in its table.
_SUMMARY_KEYS = ("primer", "length_quarters")
_STATISTICS_SUFFIX = "_musical_statistics"
_WORDS = {"nll": "NLL", "atb": "ATB", "num": "number of", "qpm": "qpm"}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin: 0 0 0.3em; }
section.piece { border-top: 1px solid #ccc; padding: 1.2em 0; }
figure { margin: 0.6em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #666; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
td, th { padding: 0.15em 0.8em 0.15em 0; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #444; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.2em; }
td.number { font-variant-numeric: tabular-nums; }
p.summary { margin: 0.2em 0 0.6em; }
p.links a { margin-right: 1em; }
audio { width: 100%; max-width: 600px; }
""".strip()


def write_gallery(output_dir: str, pieces: Sequence[GeneratedPiece],
                  run_info: Mapping[str, Any]) -> str:
    """Writes `output_dir/index.html` atomically and returns its path.

    Args:
        output_dir: Where the page goes; the pieces' files are linked
            relative to it.
        pieces: The pieces, shown in this order. Their files are found as
            `piece.stem + extension` (.svg, .png, .wav, .mid, .musicxml) and
            linked only if they exist. From `piece.metadata`, `primer`
            (what the piece starts from) is shown beside the length; every
            other key is shown in a table.
        run_info: `config` (the run's name), `metrics` (a dict, e.g. the
            run's metrics.json; NLL and bits entries are listed first, in
            readable words), `statistics` (as in `samples.json`: the
            pieces' musical statistics and the validation pieces', shown
            side by side); any other keys are shown as facts about the run.

    Returns:
        The path of the page.
    """
    run_info = dict(run_info)
    config = str(run_info.pop("config", "") or "")
    metrics = run_info.pop("metrics", None) or {}
    statistics = run_info.pop("statistics", None) or {}
    title = f"polyframe: {config}" if config else "polyframe samples"
    parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',  # No favicon request.
            f"<title>{_text(title)}</title>",
            f"<style>\n{_STYLE}\n</style>",
            "</head>",
            "<body>",
            "<header>",
            f"<h1>{_text(title)}</h1>",
            f"<p>{len(pieces)} piece{'s' if len(pieces) != 1 else ''}.</p>",
    ]
    parts += _table("Metrics", _metric_rows(metrics))
    parts += _statistics_table(statistics)
    parts += _table("Run", [(_label(k), _value(v)) for k, v in sorted(run_info.items())])
    parts.append("</header>")
    for number, piece in enumerate(pieces, start=1):
        parts += _piece_section(output_dir, number, piece)
    parts += ["</body>", "</html>", ""]
    path = os.path.join(output_dir, INDEX)
    return write_bytes(path, "\n".join(parts).encode("utf-8"))


def _piece_section(output_dir: str, number: int, piece: GeneratedPiece) -> List[str]:
    name = piece.title or os.path.basename(piece.stem)
    files = {ext: piece.stem + ext for ext in (".svg", ".png", ".wav", ".mid", ".musicxml")
             if os.path.isfile(piece.stem + ext)}

    def link(ext: str) -> str:
        relative = os.path.relpath(files[ext], output_dir).replace(os.sep, "/")
        return _text(urllib.parse.quote(relative))

    lines = [f'<section class="piece" id="piece-{number}">',
             f"<h2>{_text(name)}</h2>",
             f'<p class="summary">{_text(_summary(piece))}</p>']
    if ".svg" in files:
        lines.append(f'<figure><img src="{link(".svg")}" alt="Score of {_text(name)}">'
                     "<figcaption>Score</figcaption></figure>")
    if ".png" in files:
        lines.append(f'<figure><img src="{link(".png")}" alt="Piano roll of '
                     f'{_text(name)}"><figcaption>Piano roll</figcaption></figure>')
    if ".wav" in files:
        lines.append(f'<audio controls preload="metadata" src="{link(".wav")}">'
                     f'<a href="{link(".wav")}">WAV</a></audio>')
    downloads = [(ext, label) for ext, label in
                 ((".mid", "MIDI"), (".musicxml", "MusicXML"), (".wav", "WAV"))
                 if ext in files]
    if downloads:
        lines.append('<p class="links">' + " ".join(
                f'<a href="{link(ext)}" download>{label}</a>'
                for ext, label in downloads) + "</p>")
    extra = [(_label(k), _value(v)) for k, v in sorted(_flatten(piece.metadata))
             if k not in _SUMMARY_KEYS]
    lines += _table(None, extra)
    lines.append("</section>")
    return lines


def _summary(piece: GeneratedPiece) -> str:
    """What the piece starts from and how long it is."""
    primer = piece.metadata.get("primer")
    if primer is None:
        primer = "nothing given" if piece.primer_end_time is None else "a given opening"
    quarters = float(piece.metadata.get("length_quarters", piece.length_quarters))
    after_pickup = max(0.0, quarters - float(piece.pickup_quarters))
    bars = math.ceil(after_pickup / float(piece.bar_quarters) - 1e-9)
    metre = "{}/{}".format(*piece.time_signature)
    pickup = "a pickup and " if piece.pickup_quarters else ""
    seconds = quarters * 60.0 / piece.qpm
    return (f"Starts from: {primer}. Length: {quarters:g} quarters "
            f"({pickup}{bars} bar{'s' if bars != 1 else ''} of {metre}), "
            f"{seconds:.1f} s.")


def _metric_rows(metrics: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """Rows of (label, value), NLL and bits first."""
    flat = dict(_flatten({k: v for k, v in metrics.items()
                          if not k.endswith(_STATISTICS_SUFFIX)}))
    likelihood = [k for k in flat if "nll" in k.split("_") or "bits" in k.split("_")]
    others = [k for k in flat if k not in likelihood]
    return [(_label(k), _value(flat[k])) for k in sorted(likelihood) + sorted(others)]


def _statistics_table(statistics: Mapping[str, Any]) -> List[str]:
    """Each statistic's mean over these pieces beside the validation
    pieces' mean and 10th-90th percentile range."""
    pieces = statistics.get("pieces") or {}
    if not pieces:
        return []
    reference = statistics.get("validation") or {}
    lines = ["<table>", "<caption>Musical statistics</caption>",
             "<tr><th>statistic</th><th>these pieces (mean)</th>"
             "<th>validation (mean)</th><th>validation 10th&ndash;90th "
             "percentile</th></tr>"]
    for name, values in pieces.items():
        ref = reference.get(name)
        cells = [_value(values["mean"]),
                 _value(ref["mean"]) if ref else "",
                 f"{_value(ref['p10'])} to {_value(ref['p90'])}" if ref else ""]
        lines.append(f"<tr><th>{_text(_label(name))}</th>" + "".join(
            f'<td class="number">{_text(c)}</td>' for c in cells) + "</tr>")
    lines.append("</table>")
    return lines


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Iterable[Tuple[str, Any]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, name + "_")
        else:
            yield name, value


def _label(key: str) -> str:
    """`valid_nll_per_note` -> `valid NLL per note (nats)`."""
    words = str(key).split("_")
    label = " ".join(_WORDS.get(w, w) for w in words if w)
    return label + " (nats)" if "nll" in words else label


def _value(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(value)
    value = float(value)
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def _table(caption, rows: Sequence[Tuple[str, str]]) -> List[str]:
    if not rows:
        return []
    lines = ["<table>"]
    if caption:
        lines.append(f"<caption>{_text(caption)}</caption>")
    for label, value in rows:
        kind = ' class="number"' if _is_number(value) else ""
        lines.append(f"<tr><th>{_text(label)}</th><td{kind}>{_text(value)}</td></tr>")
    lines.append("</table>")
    return lines


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)
