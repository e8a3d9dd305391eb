"""What operations staff run on top of the runtime: status and metrics (lag, freshness, workers, dead
letters), rebuilds and as-of copies (`kim replay`), and dead-letter re-drive (`kim dlq redrive`)."""
