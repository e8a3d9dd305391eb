"""What operations staff run: status and metrics, rebuilds and as-of copies, dead-letter re-drive, erasure,
and publishing files of events for agencies."""
