"""The HTTP front door for partners without a Kafka client: JSON in, Kafka-acknowledged events out."""

from web.gateway.app import make_app
from web.gateway.config import GatewayConfig

__all__ = ["GatewayConfig", "make_app"]
