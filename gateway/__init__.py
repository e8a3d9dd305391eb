"""The HTTP front door for partners without a Kafka client: JSON in, Kafka-acknowledged events out."""

from gateway.app import make_app
from gateway.config import GatewayConfig

__all__ = ["GatewayConfig", "make_app"]
