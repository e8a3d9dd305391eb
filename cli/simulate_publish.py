"""`kim simulate --publish`: the simulated events published as their agencies, every case in order, resumably.

The run is recorded in a progress file (``streams.usecases.resumable_publish``): when Kafka or PostgreSQL goes
away, one ``error:`` line says exactly how many events the broker acknowledged and the command that resumes;
the resume (the same parameters, ``--resume``) publishes what is not in the log yet, nothing twice.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass

import asyncpg

from infra import audit, db_roles
from infra.client_keys import ClientKeyStore, KeyStoreUnavailable
from infra.errors import SetupError
from infra.platform_identity import kafka_connection, platform_key
from infra.platform_secrets import Secrets
from infra.settings import Settings
from schemas import load_catalog
from schemas.sealing import client_refs
from simulation import SimEvent, SimulationConfig
from streams.runtime.progress import Progress
from streams.sdk.prepare import Preparer
from streams.usecases.delivery import Delivery, DeliveryStopped, Item, Tally
from streams.usecases.publish_progress import progress_path
from streams.usecases.resumable_publish import Resumable, open_run, stopped_message

ACK_TIMEOUT = 30.0
WINDOW = 20_000  # events prepared together (their clients' keys loaded in one round trip), then sent in rounds


@dataclass
class Published:
    """What the run got into the log: acknowledged now (``tally``), and found there already on a resume."""

    tally: Tally
    resumed: bool
    skipped: str  # how many of them a resume found in the log, and how many of those were never acknowledged


def resume_command(config: SimulationConfig, ack_timeout: float = ACK_TIMEOUT) -> str:
    """The command that resumes publishing this simulation: the same parameters give the same events."""
    command = f"kim simulate --publish --years {config.years!r} --seed {config.seed} --scale {config.scale!r}"
    command += f" --start {config.start.isoformat()} --resume"
    return command + ("" if ack_timeout == ACK_TIMEOUT else f" --ack-timeout {ack_timeout:g}")


async def publish_simulation(
    settings: Settings,
    config: SimulationConfig,
    events: list[SimEvent],
    target: str,
    *,
    resume: bool = False,
    ack_timeout: float = ACK_TIMEOUT,
) -> Published:
    """Publish ``events`` (the simulation ``config`` made); ``SetupError`` — one line with the exact count of
    acknowledged events and the command that resumes — when Kafka or PostgreSQL went away. Audited as
    ``events.simulate`` on ``target``."""
    kafka = kafka_connection(settings)
    command = resume_command(config, ack_timeout)
    source = {"seed": config.seed, "scale": config.scale, "years": config.years, "start": config.start.isoformat()}
    path = progress_path(settings.run_dir, "simulate", json.dumps(source, sort_keys=True), settings.topic_prefix)
    topics = sorted(settings.topic(t) for t in load_catalog().topics())
    what = f"the simulation ({target})"
    run = await open_run(kafka, path, source, len(events), topics, resume=resume, what=what, resume_command=command)
    skip = run.in_log(range(len(events)))
    todo = [i for i in range(len(events)) if i not in skip]
    delivery = Delivery(
        kafka, platform_key=platform_key(kafka), topic_prefix=settings.topic_prefix, timeout=ack_timeout
    )
    progress = Progress(len(todo), "publish")
    keys = ClientKeyStore(db_roles.database_url(settings, db_roles.OPERATIONS), Secrets(settings.secrets_dir))
    failure: str | None = None
    try:
        async with keys, delivery:
            preparers: dict[str, Preparer] = {}
            for start in range(0, len(todo), WINDOW):
                window = [(i, events[i]) for i in todo[start : start + WINDOW]]
                await keys.load([ref for _, e in window for ref in client_refs(e.draft.event_type, e.draft.payload)])
                await delivery.deliver([_item(i, e, run, preparers, keys, delivery) for i, e in window])
                run.checkpoint(delivery.tally.acked)
                progress.advance(len(window))
    except (DeliveryStopped, KeyStoreUnavailable) as why:
        run.checkpoint(delivery.tally.acked)
        refused = len(delivery.tally.refused)
        failure = stopped_message(str(why), run, delivery.tally.acked, refused, len(events), "events", command)
    else:
        run.finish()
    finally:
        run.release()
        progress.finish(summary=failure is None)
    unaudited = await _audit(settings, target, events, delivery.tally, run, failure)
    if failure is not None:
        raise SetupError(failure + (f" ({unaudited})" if unaudited else ""))
    if unaudited:
        print(f"warning: {unaudited}", file=sys.stderr)
    return Published(delivery.tally, run.resumed, run.skipped_text())


def _item(
    index: int,
    event: SimEvent,
    run: Resumable,
    preparers: dict[str, Preparer],
    keys: ClientKeyStore,
    delivery: Delivery,
) -> Item:
    if event.agency not in preparers:
        preparers[event.agency] = Preparer(
            event.agency, topic_prefix=delivery.topic_prefix, codec=delivery.codec, keys=keys.ring
        )
    return Item(index, event.agency, preparers[event.agency].prepare(event.draft, event_id=run.event_id(index)))


async def _audit(
    settings: Settings, target: str, events: list[SimEvent], tally: Tally, run: Resumable, failure: str | None
) -> str | None:
    """Audit the run (``failed`` when it stopped part-way); the problem when the entry could not be written."""
    details: dict[str, object] = {
        "events": len(events),
        "acknowledged": tally.acked,
        "agencies": dict(tally.agencies),
        "event_types": dict(Counter(e.draft.event_type for e in events)),
    }
    if run.resumed:
        details["already_in_the_log"] = run.skipped
    url = db_roles.database_url(settings, db_roles.OPERATIONS)
    outcome = "failed" if failure else "ok"
    try:
        await audit.record_alone(url, settings.actor, "events.simulate", target, outcome, details)
    except (OSError, TimeoutError, asyncpg.PostgresError) as why:
        return f"the audit entry of this publish could not be written ({why})"
    return None
