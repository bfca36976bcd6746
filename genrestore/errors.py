"""The one exception type for problems a user can fix (bad input, bad options, foreign files)."""


class UserError(Exception):
    """A problem with the user's input or options; the message says what to do.

    The CLI prints ``genrestore: error: <message>`` on one line and exits with code 2;
    the demo shows the message; library callers can catch it.
    """
