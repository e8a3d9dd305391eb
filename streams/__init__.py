"""The Kafka side: topic definitions, the partner publisher, the projection workers, DLQ routing."""
