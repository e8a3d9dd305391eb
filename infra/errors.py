"""Set-up problems a user can fix: a missing service, a broken setting, a missing password file."""

from schemas.errors import KimError


class SetupError(KimError):
    """A user-fixable problem: the message says what is wrong and how to fix it.

    Front doors print ``error: <message>`` and exit non-zero; never a traceback.
    """
