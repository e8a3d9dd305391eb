"""The partner SDK in one import: build events, validate them, publish them (async or blocking).

from streams.kafka.connection import KafkaConnection
from streams.sdk import EventDraft, SyncPublisher

kafka = KafkaConnection("broker:9092", "agency-jobcenter", "…")  # the login `kim agency add` printed
with SyncPublisher(kafka, "JOBCENTER", signing_key="JOBCENTER.3f9a1c2b:…") as jobcenter:
    jobcenter.publish(EventDraft.from_dict({"event_type": "CaseClosed", "occurred_at": "2025-03-01T10:00:00Z",
                                            "payload": {"case_id": "DO-1", "reason": "GOALS_ACHIEVED"}}))

docs/partners.md shows it in full (that example runs in the test suite).
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
