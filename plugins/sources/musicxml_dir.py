"""A folder of MusicXML files (`.xml`, `.musicxml`, compressed `.mxl`).

Files are read by note_seq's MusicXML reader, which follows tempo marks,
time signature changes and pickup bars. Its parts (named by their part
names) become voices by `voices`, as in `polyframe.data.voice_rules`:

* "auto" (default): parts named Soprano, Alto, Tenor and Bass (first word,
  any case) when each voice has exactly one; else the `num_voices` parts of
  highest mean pitch, highest first; else, with fewer parts than voices (a
  piano score), the notes are dealt out to the voices by pitch order at each
  onset.
* "satb": by part name only; scores without such names are skipped.
* "top_n": the `num_voices` parts of highest mean pitch.
* "split": always by pitch order at each onset.

Skipped files (reasons in `report.json`): empty, broken (not well-formed XML,
an `.mxl` that is not a MusicXML archive, values the reader cannot use such
as a duration "x" or a tempo "inf"), notation the reader does not support
(e.g. unpitched percussion), no notes, voices not found, a voice left without
notes, implausibly long, and the limits of every folder source (too large,
also unpacked; too slow to parse).

Entities. XML that declares entities (`<!ENTITY ...>`, in the file or in any
member of an `.mxl`) is skipped before it is parsed: a few hundred bytes of
nested entities expand to gigabytes ("billion laughs"), and MusicXML has no
use for them. The standard `<!DOCTYPE score-partwise PUBLIC ...>` line
declares none and is fine.
"""

import contextlib
import functools
import io
import math
import zipfile
from typing import Dict, Iterator, List, Optional, Tuple
from xml.parsers import expat

from note_seq import musicxml_parser, musicxml_reader
from note_seq.protobuf import music_pb2

from polyframe.data import ingest, skip_reasons
from polyframe.data.directory_source import DirectorySource
from polyframe.data.skip_reasons import UnusableFileError
from polyframe.data.voice_rules import VoicedPiece, VoiceRule
from polyframe.registries import SOURCES


@SOURCES.register("musicxml_dir")
class MusicXmlDirectory(DirectorySource):
    """Every MusicXML file under a folder, parts mapped to voices.

    See `polyframe.data.directory_source.DirectorySource` for the arguments
    and this module's docstring for the voice rules.
    """

    name = "musicxml_dir"
    format_name = "MusicXML"
    extensions = (".xml", ".musicxml", ".mxl")

    def parser(self) -> ingest.ParseFunction:
        return functools.partial(parse_musicxml, rule=self.rule,
                                 max_bytes=self.limits.max_bytes)

    def versions(self) -> Dict[str, str]:
        return ingest.package_versions("note-seq")


def parse_musicxml(path: str, data: bytes, rule: VoiceRule,
                   max_bytes: Optional[int] = None) -> VoicedPiece:
    """Returns the voices of one MusicXML file.

    Args:
        path: The file; the reader opens it itself (by name, which also says
            whether it is compressed).
        data: Its bytes, checked before the reader opens the file.
        rule: How parts become voices.
        max_bytes: Most bytes an `.mxl` may unpack to; None: no limit.

    Raises:
        UnusableFileError: if the file is broken, unpacks to more than
            `max_bytes`, declares XML entities, uses notation the reader
            does not support, or has no usable voices.
    """
    if path.lower().endswith(".mxl"):
        with _errors_as_broken_musicxml():
            members = _unpacked(data, max_bytes)
    else:
        members = [("", data)]
    for name, content in members:
        _refuse_entities(name, content)
    try:
        sequence = musicxml_reader.musicxml_file_to_sequence_proto(path)
    except musicxml_reader.MusicXMLConversionError as error:
        cause = error.args[0] if error.args else error
        # The reader's base error class stands for unreadable XML or archive
        # structure; its subclasses for notation it cannot convert.
        reason = (skip_reasons.BROKEN_MUSICXML
                  if type(cause) is musicxml_parser.MusicXMLParseError else
                  skip_reasons.UNSUPPORTED)
        raise UnusableFileError(reason, str(cause)) from None
    except Exception as error:  # pylint: disable=broad-except
        # Values it cannot use (a duration "x", divisions 0, a corrupt
        # archive member) fail the reader with many error types.
        raise UnusableFileError(skip_reasons.BROKEN_MUSICXML,
                                ingest.describe_error(error)) from None
    _check_finite_times(sequence)
    return rule.apply(sequence, "part")


@contextlib.contextmanager
def _errors_as_broken_musicxml() -> Iterator[None]:
    """Turns what `zipfile` raises for a corrupt archive into
    `BROKEN_MUSICXML` skips."""
    try:
        yield
    except UnusableFileError:
        raise
    except Exception as error:  # pylint: disable=broad-except
        raise UnusableFileError(skip_reasons.BROKEN_MUSICXML,
                                ingest.describe_error(error)) from None


def _unpacked(data: bytes, max_bytes: Optional[int]
              ) -> List[Tuple[str, bytes]]:
    """Returns `(name, bytes)` of every member of an `.mxl` archive.

    The sizes the archive declares are checked before anything is unpacked;
    `zipfile` never unpacks more than a member declares.

    Raises:
        UnusableFileError: if the members unpack to more than `max_bytes`.
        zipfile.BadZipFile: and others, for a corrupt archive.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        unpacked = sum(member.file_size for member in members)
        if max_bytes is not None and unpacked > max_bytes:
            raise UnusableFileError(
                skip_reasons.TOO_LARGE,
                f"the archive unpacks to {unpacked:,} bytes, more than the "
                f"limit of {max_bytes:,} bytes")
        return [(member.filename, archive.read(member)) for member in members]


class _EntityDeclared(Exception):
    """An entity declaration, found in a document's prolog."""


class _PrologRead(Exception):
    """The root element starts: no entity can be declared after it."""


def _refuse_entities(name: str, content: bytes) -> None:
    """Raises UnusableFileError if the XML document declares an entity.

    Only the prolog is read, by the same XML parser (expat) as the reader's,
    so every encoding it reads (UTF-16 too) is checked, and nothing is
    expanded: expat reports a declaration before any use of it.
    """
    parser = expat.ParserCreate()
    parser.EntityDeclHandler = _entity_declared
    parser.StartElementHandler = _prolog_read
    try:
        parser.Parse(content, True)
    except _EntityDeclared as declared:
        where = f"its member {name} " if name else "it "
        raise UnusableFileError(
            skip_reasons.XML_ENTITIES,
            f"{where}declares the entity {declared.args[0]!r}; MusicXML "
            "needs none, and nested entities can expand a small file into "
            "gigabytes") from None
    except (_PrologRead, expat.ExpatError, LookupError):
        # Broken XML (or an unknown encoding) is left to the reader, which
        # fails on it the same way and says what is wrong.
        pass


def _entity_declared(entity_name, *args) -> None:
    del args
    raise _EntityDeclared(entity_name)


def _prolog_read(*args) -> None:
    del args
    raise _PrologRead()


def _check_finite_times(sequence: music_pb2.NoteSequence) -> None:
    """Raises UnusableFileError if a note or tempo has a non-finite time.

    An absurd tempo ("inf", "nan") makes the reader compute note times of
    infinity or NaN, which no later step can place.
    """
    values = [value for note in sequence.notes
              for value in (note.start_time, note.end_time)]
    values += [value for tempo in sequence.tempos
               for value in (tempo.time, tempo.qpm)]
    if not all(math.isfinite(value) for value in values):
        raise UnusableFileError(
            skip_reasons.BROKEN_MUSICXML,
            "a note time or a tempo is not a finite number (a tempo or "
            "duration out of range)")
