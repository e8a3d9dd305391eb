"""The partner SDK in one import: build events, validate them, publish them (async or blocking).

from streams.sdk import EventDraft, SyncPublisher

with SyncPublisher("127.0.0.1:19092", "JOBCENTER") as jobcenter:
    jobcenter.publish(EventDraft.from_dict({"event_type": "CaseClosed", "occurred_at": "2025-03-01T10:00:00Z",
                                            "payload": {"case_id": "DO-1", "reason": "GOALS_ACHIEVED"}}))
"""

from schemas import EncodeError
from streams.sdk.draft import EventDraft, agencies
from streams.sdk.errors import DeliveryError, FieldError, InvalidBatch, field_errors_of
from streams.sdk.ordered import OrderedSender
from streams.sdk.pool import PublisherPool
from streams.sdk.prepare import Outgoing, Preparer
from streams.sdk.publisher import Published, Publisher
from streams.sdk.sync import SyncPublisher

__all__ = [
    "DeliveryError",
    "EncodeError",
    "EventDraft",
    "FieldError",
    "InvalidBatch",
    "OrderedSender",
    "Outgoing",
    "Preparer",
    "Published",
    "Publisher",
    "PublisherPool",
    "SyncPublisher",
    "agencies",
    "field_errors_of",
]
