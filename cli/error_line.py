"""The one line a front door prints for a failure the user can act on: our own errors, and Kafka's and
PostgreSQL's refusals of a login or an action (each naming the fix). Anything else is a bug: no line, so its
traceback is shown."""

from __future__ import annotations

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from infra import db_roles
from schemas.errors import KimError
from streams.kafka.connection import KafkaLoginError


def error_line(error: BaseException) -> str | None:
    """The message after ``error:``; None when ``error`` is none of ours and no refusal we recognise."""
    refusal = kafka_refusal(error) or db_roles.refusal(error)  # before KimError: KafkaLoginError is one, too
    if refusal is not None:
        return refusal
    return str(error) if isinstance(error, KimError) else None


def kafka_refusal(error: BaseException) -> str | None:
    if isinstance(error, KafkaLoginError | SaslAuthenticationFailed):
        return f"{error}; fix KIM_KAFKA_USERNAME/KIM_KAFKA_PASSWORD, or run kim as the user that ran `kim up`"
    if isinstance(
        error, TopicAuthorizationFailedError | GroupAuthorizationFailedError | ClusterAuthorizationFailedError
    ):
        return (
            f"Kafka refused the action ({type(error).__name__}: {error}); the configured Kafka user lacks that "
            "permission — platform commands need the platform principal (KIM_KAFKA_USERNAME)"
        )
    return None
