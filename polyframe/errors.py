"""Errors that carry a message meant for the person running polyframe.

The command line prints a `UserFacingError` as one line and exits non-zero;
every other exception is a bug and keeps its traceback.
"""


class UserFacingError(Exception):
    """A problem the user can fix: bad config, bad path, bad input data."""
