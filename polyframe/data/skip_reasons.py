"""Why a file is left out of a corpus: a few fixed reasons, and their error.

Ingestion counts skipped files by reason, so a reason is one short fixed
phrase ("not a MIDI file"). What exactly went wrong in that file (the
parser's message, the part names) is its detail, reported next to the reason
but never counted.

Some reasons protect ingestion itself from hostile files: a file larger than
the size limit is not read (`TOO_LARGE`), a parse that runs past the time
limit is stopped (`TOO_SLOW`, see `polyframe.data.ingest.FileLimits`), XML
that declares entities is not expanded (`XML_ENTITIES`), and a piece that
would last for days is not kept (`TOO_LONG`).
"""

from typing import Tuple

from polyframe.data.corpus import UnusableSequenceError

UNREADABLE = "cannot be read"
EMPTY_FILE = "empty file"
TOO_LARGE = "file too large"
TOO_SLOW = "took too long to parse"
NOT_MIDI = "not a MIDI file"
CORRUPT_MIDI = "corrupt or truncated MIDI"
BROKEN_MUSICXML = "broken MusicXML"
XML_ENTITIES = "declares XML entities"
UNSUPPORTED = "unsupported notation"
PARSER_ERROR = "parser error"
NO_NOTES = "no notes"
DRUMS_ONLY = "only drum notes"
NO_VOICES = "voices not found"
NOTHING_LEFT = "nothing left after voice selection"
TOO_LONG = "implausibly long"
# `polyframe.data.voices` raises plain UnusableSequenceErrors, for instance
# for a voice that is not monophonic; they are counted under this reason.
UNUSABLE_VOICES = "unusable voices"

# Every reason a file can be skipped for.
REASONS = (UNREADABLE, EMPTY_FILE, TOO_LARGE, TOO_SLOW, NOT_MIDI, CORRUPT_MIDI,
           BROKEN_MUSICXML, XML_ENTITIES, UNSUPPORTED, PARSER_ERROR, NO_NOTES,
           DRUMS_ONLY, NO_VOICES, NOTHING_LEFT, TOO_LONG, UNUSABLE_VOICES)


class UnusableFileError(UnusableSequenceError):
    """A file that cannot be used, with its reason and the detail.

    Args:
        reason: One of this module's reasons.
        detail: What exactly is wrong, for the report; may be empty.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def reason_and_detail(error: UnusableSequenceError) -> Tuple[str, str]:
    """Returns `(reason, detail)` of any UnusableSequenceError."""
    if isinstance(error, UnusableFileError):
        return error.reason, error.detail
    return UNUSABLE_VOICES, str(error)
