"""The KIM event contract: Avro schemas, their catalog and the message codec."""

from schemas.catalog import Catalog, EventSchema, load_catalog
from schemas.codec import Codec, DecodeError, EncodeError
from schemas.event import Event

__all__ = ["Catalog", "Codec", "DecodeError", "EncodeError", "Event", "EventSchema", "load_catalog"]
