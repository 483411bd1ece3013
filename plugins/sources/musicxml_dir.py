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
or an `.mxl` that is not a MusicXML archive), notation the reader does not
support (e.g. unpitched percussion), no notes, voices not found, or a voice
left without notes.
"""

import functools
from typing import Dict

from note_seq import musicxml_parser, musicxml_reader

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
        return functools.partial(parse_musicxml, rule=self.rule)

    def versions(self) -> Dict[str, str]:
        return ingest.package_versions("note-seq")


def parse_musicxml(path: str, data: bytes, rule: VoiceRule) -> VoicedPiece:
    """Returns the voices of one MusicXML file.

    Args:
        path: The file; the reader opens it itself (by name, which also says
            whether it is compressed).
        data: Its bytes (unused: see `path`).
        rule: How parts become voices.

    Raises:
        UnusableFileError: if the file is broken, uses notation the reader
            does not support, or has no usable voices.
    """
    del data
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
    return rule.apply(sequence, "part")
