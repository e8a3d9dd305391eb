"""The one base of every error the platform raises on purpose.

Each concern keeps its own errors beside its code, all under ``KimError``: the contract's (``EncodeError``,
``DecodeError``, ``SealError``), the set-up's (``infra.errors.SetupError``), Kafka's (``KafkaLoginError``),
the SDK's (``InvalidBatch``, ``DeliveryError``), the operations' (``ReplayRefused``), the projections'
(``MigrationError``), the analysts' (``SuppressionConfigError``) and the HTTP answers (``web.problems.Problem``).
Its message is one line that says what is wrong and, where the user can fix it, how: front doors print it as
``error: <message>`` and never a traceback. A unit test holds every exception class of the project to this base.
"""

from __future__ import annotations


class KimError(Exception):
    """An error the platform raises on purpose, with a one-line message for the user."""
