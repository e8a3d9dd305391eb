"""The one exception type that front doors turn into a single clear line."""


class SetupError(Exception):
    """A user-fixable problem: the message says what is wrong and how to fix it.

    Front doors print ``error: <message>`` and exit non-zero; never a traceback.
    """
