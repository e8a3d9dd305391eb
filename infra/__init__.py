"""Bring-up of the local default services: Kafka broker, PostgreSQL server, settings."""
