"""Read models: pure folds over events, their SQL migrations and thin asyncpg sinks. No Kafka here."""
