"""`kim status`: broker, database, topics with end offsets, and each projection's lag and worker."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg

from cli import render, services
from infra import kafka_broker, postgres_server
from infra.errors import SetupError
from infra.settings import Settings
from projections import checkpoints
from projections.registry import PROJECTIONS
from streams.topics import TOPICS, end_offsets


async def _projection_state(url: str) -> dict[str, tuple[dict, datetime | None]]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        state = {}
        for name in PROJECTIONS:
            seen = await checkpoints.load(conn, name)
            last = await conn.fetchval(
                "SELECT max(last_event_at) FROM projection_checkpoints WHERE projection = $1", name
            )
            state[name] = (seen, last)
        return state
    finally:
        await conn.close()


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def _database_problem(url: str) -> str | None:
    try:
        postgres_server.wait_for_database(url, timeout=3.0)
    except SetupError as why:
        return str(why)
    return None


async def report(settings: Settings) -> tuple[str, bool]:
    """The status text, and whether everything is up."""
    lines: list[str] = []
    where = "local" if settings.local_kafka else "external"
    kafka_ok = kafka_broker.kafka_answers(settings.kafka_bootstrap) is None
    lines.append(f"broker    {settings.kafka_bootstrap} ({where}): {'up' if kafka_ok else 'DOWN'}")
    db_error = _database_problem(settings.database_url)
    db_where = "local" if settings.local_postgres else "external"
    lines.append(
        f"database  {_endpoint(settings.database_url)} ({db_where}): "
        f"{'up' if db_error is None else 'DOWN: ' + db_error}"
    )
    if not kafka_ok:
        return "\n".join([*lines, "", "start the services with `kim up`"]), False
    names = [settings.topic(spec.name) for spec in TOPICS]
    ends = await end_offsets(settings.kafka_bootstrap, names)
    lines.append("")
    rows = []
    for name in names:
        parts = sorted((p, end) for (t, p), end in ends.items() if t == name)
        rows.append([name, len(parts) or "missing", sum(e for _, e in parts), " ".join(f"{p}:{e}" for p, e in parts)])
    lines.append(render.table(["topic", "partitions", "records", "end offsets"], rows))
    if db_error is not None:
        return "\n".join(lines), False
    state = await _projection_state(settings.database_url)
    now = datetime.now(UTC)
    rows = []
    for name, projection in PROJECTIONS.items():
        seen, last = state[name]
        sources = {settings.topic(t) for t in projection.source_topics}
        lag = {tp: end - seen.get(tp, 0) for tp, end in ends.items() if tp[0] in sources}
        pid = services.worker_pid(settings, name)
        fresh = f"{(now - last).total_seconds():.0f} s" if last else "-"
        rows.append(
            [
                name,
                f"up (pid {pid})" if pid else "stopped",
                sum(lag.values()),
                " ".join(f"{p}:{n}" for (_, p), n in sorted(lag.items())),
                last.isoformat() if last else "-",
                fresh,
            ]
        )
    lines.append("")
    lines.append(
        render.table(["projection", "worker", "lag", "lag per partition", "last event time", "freshness"], rows)
    )
    return "\n".join(lines), True
