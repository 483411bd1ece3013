"""Why a file is left out of a corpus: a few fixed reasons, and their error.

Ingestion counts skipped files by reason, so a reason is one short fixed
phrase ("not a MIDI file"). What exactly went wrong in that file (the
parser's message, the part names) is its detail, reported next to the reason
but never counted.
"""

from typing import Tuple

from polyframe.data.corpus import UnusableSequenceError

UNREADABLE = "cannot be read"
EMPTY_FILE = "empty file"
NOT_MIDI = "not a MIDI file"
CORRUPT_MIDI = "corrupt or truncated MIDI"
BROKEN_MUSICXML = "broken MusicXML"
UNSUPPORTED = "unsupported notation"
PARSER_ERROR = "parser error"
NO_NOTES = "no notes"
DRUMS_ONLY = "only drum notes"
NO_VOICES = "voices not found"
NOTHING_LEFT = "nothing left after voice selection"
# `polyframe.data.voices` raises plain UnusableSequenceErrors, for instance
# for a voice that is not monophonic; they are counted under this reason.
UNUSABLE_VOICES = "unusable voices"


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
