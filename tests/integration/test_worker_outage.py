"""A broker outage is a few log lines in the worker (down, still down, back), not dozens a second; then it goes on.

The worker runs against a throw-away broker of its own (own KIM_HOME, free ports), which the test stops for
about 20 s and starts again; the database is the lane's.
"""

from __future__ import annotations

import time

import pytest

from infra import kafka_broker
from infra.platform_identity import kafka_connection
from infra.processes import run_sync
from infra.settings import Settings
from streams.kafka.topics import provision
from tests.integration.conftest import Lane
from tests.integration.helpers import caught_up, history, publish_history

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 20


def test_a_broker_outage_is_a_few_lines_and_the_worker_goes_on(lane: Lane, own_broker: Settings) -> None:
    kafka = kafka_connection(own_broker)
    run_sync(provision(kafka, lane.prefix))
    own = Lane(kafka, lane.database_url, lane.prefix, lane.home, role_urls=lane.role_urls)
    worker = own.worker()
    try:
        openings, closings = history(seed=51, cases=300)
        run_sync(caught_up(own, worker, run_sync(publish_history(own, openings, closings))))
        before = len(worker.log_text().splitlines())

        kafka_broker.stop_broker(own_broker)
        stopped = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        kafka_broker.start_broker(own_broker, log=lambda _: None)
        down_for = time.monotonic() - stopped

        later_openings, later_closings = history(seed=52, cases=300)
        run_sync(caught_up(own, worker, run_sync(publish_history(own, later_openings, later_closings))))
        deadline = time.monotonic() + 30
        while "Kafka back after" not in worker.log_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        lines = worker.log_text().splitlines()[before:]
    finally:
        worker.stop()

    shown = "\n".join(lines)
    down = [line for line in lines if "Kafka unreachable since" in line]
    still = [line for line in lines if "Kafka still down for" in line]
    back = [line for line in lines if "Kafka back after" in line]
    assert len(down) == 1, shown
    assert len(back) == 1, shown
    assert len(still) <= down_for // 30 + 1, shown
    others = [line for line in lines if line not in down + still + back]
    assert not [line for line in others if "Unable connect to node" in line or "NodeNotReadyError" in line], shown
    assert len(lines) <= 12, shown  # was 480–916 lines in 25 s
