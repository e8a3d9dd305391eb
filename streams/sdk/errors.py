"""What publishing can fail with, beyond ``EncodeError``: a batch with invalid items, an unacknowledged send."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import EncodeError
from schemas.errors import KimError
from streams.sdk.published import Published


@dataclass(frozen=True)
class FieldError:
    """One invalid field, as front doors show it: ``payload.district`` and why."""

    field: str
    reason: str

    @classmethod
    def parse(cls, error: str) -> FieldError:
        """Split an ``EncodeError`` entry ``"path: reason"``; envelope paths are named as the caller writes them."""
        path, sep, reason = error.partition(": ")
        if not sep:
            return cls("", error)
        return cls(path.removeprefix("envelope."), reason)

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


def field_errors_of(error: EncodeError) -> list[FieldError]:
    return [FieldError.parse(e) for e in error.errors]


class InvalidBatch(EncodeError):
    """Some events of a batch are invalid, so none was sent; ``items`` maps each invalid index to its error."""

    def __init__(self, items: dict[int, EncodeError], size: int) -> None:
        self.items = items
        self.size = size
        flat = [f"[{i}] {e}" for i, error in sorted(items.items()) for e in error.errors]
        super().__init__("batch", flat)


class DeliveryError(KimError):
    """Kafka did not acknowledge some events (after the producer's retries).

    ``results`` holds, per event of the call, its ``Published`` when it was acknowledged
    and ``None`` when not; ``reasons`` the broker's answer for each one that was not.
    """

    def __init__(self, results: list[Published | None], reasons: dict[int, str]) -> None:
        self.results = results
        self.reasons = reasons
        first = min(reasons)
        super().__init__(
            f"Kafka did not acknowledge {len(reasons)} of {len(results)} events (first: #{first}: {reasons[first]})"
        )
