"""Quix Streams yardsticks for the benchmark: ``python -m benchmarks.quix_app noop|decode``.

- noop: consumes every record of the topics and does nothing with it — Quix Streams' own floor.
- decode: the same, plus fastavro ``schemaless_reader`` with the writer schema the record's fingerprint names.

A fresh consumer group from the earliest offset, logged in like the platform (SASL/SCRAM). Reads
BENCH_TOPICS (comma-separated), BENCH_EVENTS, BENCH_RESULT, BENCH_GROUP, BENCH_STATE_DIR and the
KIM_KAFKA_* login from the environment; writes ``{"events", "seconds", "cpu_s", "gc_collections"}``
to BENCH_RESULT once it has seen BENCH_EVENTS records, timed (wall and this process's CPU, librdkafka's
threads included) from the first record to the last, as the faust reference agents are.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.usage import gc_collections, gc_delta, peak_rss_mb
from benchmarks.yardsticks import Decode, fastavro_decoder
from infra.platform_identity import kafka_connection
from infra.settings import load_settings
from streams.kafka.connection import KafkaConnection

if TYPE_CHECKING:  # quixstreams costs a second to import (and warns): only the yardstick's process loads it
    from quixstreams import Application
    from quixstreams.kafka.configuration import ConnectionConfig


def connection_config(kafka: KafkaConnection) -> ConnectionConfig:
    """The platform's login and TLS as librdkafka settings."""
    from quixstreams.kafka.configuration import ConnectionConfig

    options: dict[str, Any] = {"bootstrap_servers": kafka.bootstrap, "security_protocol": kafka.security_protocol}
    if kafka.tls and kafka.ca_file:
        options["ssl_ca_location"] = kafka.ca_file
    if kafka.username is not None:
        options.update(sasl_mechanism=kafka.mechanism, sasl_username=kafka.username, sasl_password=kafka.password)
    return ConnectionConfig(**options)


class Clock:
    """Counts records; at the last one writes the result and stops the app."""

    def __init__(self, app: Application, expected: int, result: Path) -> None:
        self.app, self.expected, self.result = app, expected, result
        self.seen, self.first, self.cpu = 0, 0.0, 0.0
        self.collections: list[int] = []

    def tick(self, value: Any) -> None:
        if self.seen == 0:
            self.first, self.cpu, self.collections = time.perf_counter(), time.process_time(), gc_collections()
        self.seen += 1
        if self.seen == self.expected:
            measured = {
                "events": self.seen,
                "seconds": time.perf_counter() - self.first,
                "cpu_s": time.process_time() - self.cpu,
                "gc_collections": gc_delta(self.collections),
                "peak_rss_mb": peak_rss_mb(),
            }
            self.result.write_text(json.dumps(measured))
            self.app.stop()


def build(kind: str, env: dict[str, str]) -> Application:
    """The app: one dataframe per topic, each record counted (and decoded for ``decode``)."""
    from quixstreams import Application

    app = Application(
        broker_address=connection_config(kafka_connection(load_settings())),
        consumer_group=env["BENCH_GROUP"],
        auto_offset_reset="earliest",
        loglevel="WARNING",
        auto_create_topics=False,
        use_changelog_topics=False,
        state_dir=env["BENCH_STATE_DIR"],
    )
    clock = Clock(app, int(env["BENCH_EVENTS"]), Path(env["BENCH_RESULT"]))
    decode: Decode | None = fastavro_decoder() if kind == "decode" else None
    for name in env["BENCH_TOPICS"].split(","):
        sdf = app.dataframe(app.topic(name, value_deserializer="bytes", key_deserializer="bytes"))
        sdf.update(clock.tick if decode is None else lambda value: clock.tick(decode(value)))
    return app


def main(kind: str) -> None:
    if kind not in ("noop", "decode"):
        raise SystemExit(f"usage: python -m benchmarks.quix_app noop|decode (not {kind!r})")
    build(kind, dict(os.environ)).run()


if __name__ == "__main__":
    main(sys.argv[1])
