"""One projection's worker process, composed: the live driver with its metrics endpoint and its outage report.

The runtime's live driver knows nothing of Prometheus; here it is given the worker's metrics as its observer
and the metrics endpoint as a service that runs beside it (``KIM_METRICS_PORT``; none when metrics are off).
``OutageWorker`` folds the Kafka clients' connection errors into the outage report once faust set up logging.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import faust

from projections.registry import PROJECTIONS
from schemas.topics import DLQ, TOPICS
from streams.kafka.connection import KafkaConnection
from streams.operations.metrics import WorkerMetrics
from streams.operations.metrics_io import MetricsServer
from streams.runtime.live import build_app
from streams.runtime.outage_log import OutageReport, install
from streams.runtime.self_catch_up import CATCH_UP_AT


def worker_app(
    projection_name: str,
    kafka: KafkaConnection,
    database_url: str,
    *,
    platform_secret: bytes | None,
    topic_prefix: str = "",
    metrics_port: int | None = None,
    datadir: Path | None = None,
    outages: OutageReport | None = None,
    catch_up_at: int = CATCH_UP_AT,
) -> faust.App:
    projection = PROJECTIONS[projection_name]
    metrics = WorkerMetrics(projection.name)
    services = []
    if metrics_port:
        partitions = {topic_prefix + t.name: t.partitions for t in TOPICS}
        sources = {topic_prefix + t: partitions[topic_prefix + t] for t in projection.source_topics}
        dlq = topic_prefix + DLQ
        services.append(MetricsServer(metrics, metrics_port, kafka, database_url, sources, dlq, partitions[dlq]))
    return build_app(
        projection,
        kafka,
        database_url,
        platform_secret=platform_secret,
        topic_prefix=topic_prefix,
        observer=metrics,
        services=services,
        datadir=datadir,
        outages=outages,
        catch_up_at=catch_up_at,
    )


class OutageWorker(faust.Worker):
    """faust's Worker whose log handlers fold connection errors into ``outages`` (``outage_log.install``)."""

    def __init__(self, app: faust.App, outages: OutageReport, **options: Any) -> None:
        self.outages = outages
        super().__init__(app, **options)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        install(self.outages, logger)
