"""The HTTP gateway's rows: ``python -m benchmarks.gateway [--events N] [--seconds S] [--batch-size B]``.

A real `kim gateway` (HTTPS with the installation's CA, agency tokens, events signed per agency, the case check
against the referrals projection, whose worker runs beside it) on a lane of its own (``benchmarks.gateway_lane``),
fed simulated kim.cases events by an aiohttp client over keep-alive connections:

- **batch**: ``POST /v1/events:batch``, ``--batch-size`` events per request. Every case stays in order: the events
  go in rounds (``rounds``), a round is one run of requests per agency, all agencies at once, and a case's event
  from another agency than its previous one waits for the next round (the gateway judges it against what the
  projection has applied). The rate is of the events counted on the topic afterwards, not of answers.
- **single**: ``POST /v1/events``, one event per request, open loop at ``--rate`` requests/s for ``--seconds``: each
  request's start is scheduled, and its latency runs from the scheduled start to the 202, so a stall of the
  gateway (or of the client) shows instead of delaying the requests after it. A request waits for the answer to
  its case's previous event first, as a partner keeping a case's order would; that wait counts too. The p50 of
  openings (not judged) and of the other events (judged once the referrals projection caught up) is given apart.

One event is sent first, outside the rows, until the referrals worker has applied it: the worker has joined its
group, and the gateway's producer, token lookup and TLS session are warm. Each row reports CPU seconds of this
client process, the gateway, the referrals worker, the lane database's PostgreSQL backends and the Kafka broker,
and the load average (``benchmarks.usage``). Prints a table; writes JSON (default ``results/gateway-<time>.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

from analytics.table import table as text_table
from benchmarks.gateway_lane import RunningGateway, running_gateway
from benchmarks.histories import case_events
from benchmarks.results import run_and_report
from benchmarks.usage import FrozenHeap, Meter, process_cpu_s
from infra import bringup
from infra.errors import SetupError
from infra.settings import Settings, load_settings
from streams.usecases.case_gate import OPENINGS
from streams.usecases.publish_in_order import AgencyEvent

BATCH_SIZE = 500
RATE = 100
WINDOW_BATCHES = 10  # events are put in rounds per window of this many batches: a round's lag stays small
CATCH_UP_S = 120.0
Step = Callable[[str], None]


def case_key(event: AgencyEvent) -> str:
    """What orders an event: its application (kim.immigration) or its case (kim.cases)."""
    payload = event.draft.payload
    return str(payload["application_id"] if "application_id" in payload else payload["case_id"])


def rounds(events: Sequence[AgencyEvent]) -> list[dict[str, list[AgencyEvent]]]:
    """Split the events into rounds of per-agency runs that keep every case's order.

    An event goes in the round of its case's previous event when the same agency sent that one (the agency's
    requests go one after the other), else in the round after it: another agency's event about the case must
    find the previous one acknowledged, and applied by the projection the gateway judges it against.
    """
    latest: dict[str, tuple[str, int]] = {}  # case -> (agency, round) of its latest event
    out: list[dict[str, list[AgencyEvent]]] = []
    for event in events:
        before = latest.get(case_key(event))
        n = 0 if before is None else before[1] if before[0] == event.agency else before[1] + 1
        latest[case_key(event)] = (event.agency, n)
        if n == len(out):
            out.append({})
        out[n].setdefault(event.agency, []).append(event)
    return out


class Answer(NamedTuple):
    """The gateway's answer to one request: its status and body."""

    status: int
    body: str


@dataclass
class Outcome:
    """What the gateway answered: events sent, accepted (202), refused (anything else), and the first refusal."""

    sent: int = 0
    accepted: int = 0
    requests: int = 0
    refusals: int = 0
    first_refusal: str | None = None
    latencies: list[float] = field(default_factory=list)
    # openings are not judged against the referrals projection; every other event waits until it has caught up
    opening_latencies: list[float] = field(default_factory=list)
    judged_latencies: list[float] = field(default_factory=list)

    def answered(self, events: int, answer: Answer | None, why: str = "") -> bool:
        self.sent += events
        self.requests += 1
        if answer is not None and answer.status == 202:
            self.accepted += events
            return True
        self.refusals += 1
        if self.first_refusal is None:
            self.first_refusal = why or f"{answer.status if answer else '?'} {_detail(answer)}"
        return False

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "requests": self.requests,
            "refused_requests": self.refusals,
            "first_refusal": self.first_refusal,
        }


def _detail(answer: Answer | None) -> str:
    if answer is None:
        return ""
    try:
        return str(json.loads(answer.body).get("detail", ""))[:300]
    except (ValueError, AttributeError):
        return answer.body[:300]


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def _post(client: aiohttp.ClientSession, path: str, token: str, body: Any) -> tuple[Answer | None, str]:
    try:
        async with client.post(path, data=json.dumps(body).encode(), headers=_headers(token)) as response:
            return Answer(response.status, await response.text()), ""
    except (aiohttp.ClientError, TimeoutError) as why:
        return None, f"{type(why).__name__}: {why}"


async def post_batches(
    client: aiohttp.ClientSession, tokens: dict[str, str], events: Sequence[AgencyEvent], size: int
) -> tuple[Outcome, int]:
    """Every event through ``POST /v1/events:batch``, round by round; (outcome, rounds)."""
    outcome, rounds_sent = Outcome(), 0

    async def agency_run(agency: str, run: list[AgencyEvent]) -> None:
        for start in range(0, len(run), size):
            chunk = run[start : start + size]
            response, why = await _post(client, "/v1/events:batch", tokens[agency], [e.draft.to_dict() for e in chunk])
            outcome.answered(len(chunk), response, why)

    it = iter(events)
    while window := list(islice(it, size * WINDOW_BATCHES)):
        for round_ in rounds(window):
            await asyncio.gather(*(agency_run(agency, run) for agency, run in round_.items()))
            rounds_sent += 1
    return outcome, rounds_sent


async def post_singles(
    client: aiohttp.ClientSession, tokens: dict[str, str], events: Sequence[AgencyEvent], rate: float
) -> tuple[Outcome, int]:
    """Each event through ``POST /v1/events`` at its scheduled time (open loop); (outcome with latencies from the
    scheduled starts, requests that waited for their case's previous answer)."""
    outcome, waited = Outcome(), 0
    previous: dict[str, asyncio.Task[None]] = {}

    async def one(event: AgencyEvent, due: float, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await before
        response, why = await _post(client, "/v1/events", tokens[event.agency], event.draft.to_dict())
        if outcome.answered(1, response, why):
            outcome.latencies.append(latency := time.perf_counter() - due)
            opening = event.draft.event_type in OPENINGS
            (outcome.opening_latencies if opening else outcome.judged_latencies).append(latency)

    started = time.perf_counter()
    for i, event in enumerate(events):
        due = started + i / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        before = previous.get(case_key(event))
        waited += int(before is not None and not before.done())
        previous[case_key(event)] = asyncio.create_task(one(event, due, before))
    await asyncio.gather(*previous.values())
    return outcome, waited


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return {"p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": pct(1.0)}


class _ProcessesCpu:
    """CPU seconds the gateway and the worker spent during a row (``/proc``, like the broker's)."""

    def __init__(self, running: RunningGateway) -> None:
        self.pids = {"gateway": running.gateway.process.pid, "referrals_worker": running.worker.process.pid}
        self.start = {name: process_cpu_s(pid) or 0.0 for name, pid in self.pids.items()}

    def spent(self) -> dict[str, float]:
        return {name: (process_cpu_s(pid) or 0.0) - self.start[name] for name, pid in self.pids.items()}


def _usage(meter: Meter, cpu: dict[str, float], records: int, rate: float) -> dict[str, Any]:
    """The row's usage; ``python_cpu_s`` lists the client, the gateway and the referrals worker, in that order."""
    client = meter.readings["python_cpu_s"][0]
    usage = meter.usage(records, rate, [client, cpu["gateway"], cpu["referrals_worker"]])
    usage["processes_cpu_s"] = {"client": client, **cpu}
    return usage


async def _warm_up(running: RunningGateway, client: aiohttp.ClientSession, event: AgencyEvent) -> None:
    """One event, until the referrals worker applied it (it has joined its group; the gateway is warm)."""
    outcome = Outcome()
    response, why = await _post(client, "/v1/events", running.tokens[event.agency], event.draft.to_dict())
    if not outcome.answered(1, response, why):
        raise SetupError(f"the gateway refused the warm-up event: {outcome.first_refusal}")
    await _caught_up(running, 1, CATCH_UP_S)


async def _caught_up(running: RunningGateway, records: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while await running.referrals_applied() < records:
        if why := running.failed():
            raise SetupError(why)
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def measure(
    settings: Settings,
    events: Sequence[AgencyEvent],
    batch_events: int,
    *,
    batch_size: int = BATCH_SIZE,
    rate: float = RATE,
    seconds: float = 30.0,
    step: Step = lambda _: None,
) -> dict[str, Any]:
    """Both rows on one lane: ``events[0]`` warms up, the next ``batch_events`` go in batches, the ones after them
    (up to ``rate * seconds``; the history goes on) one by one. ``events`` in time order, every case's history."""
    warm_up, batch = events[0], list(events[1 : 1 + batch_events])
    single = list(events[1 + batch_events : 1 + batch_events + int(rate * seconds)])
    names = sorted({e.agency for e in [warm_up, *batch, *single]})
    async with running_gateway(settings, names, batch_size, step) as running:
        async with running.client(max(64, int(rate * 2))) as client:
            await _warm_up(running, client, warm_up)
            results: dict[str, Any] = {"batch_size": batch_size}
            if batch:
                step(f"gateway: {len(batch):,} events through POST /v1/events:batch, {batch_size} per request")
                before = await running.records()
                cpu = _ProcessesCpu(running)
                with Meter(settings, running.database_url) as meter:
                    outcome, rounds_sent = await post_batches(client, running.tokens, batch, batch_size)
                delivered = await running.records() - before
                per_s = delivered / meter.readings["wall_s"]
                results["batch"] = {
                    **outcome.summary(),
                    "delivered": delivered,
                    "rounds": rounds_sent,
                    "mean_events_per_request": outcome.sent / max(1, outcome.requests),
                    "per_s": per_s,
                    "usage": _usage(meter, cpu.spent(), delivered, per_s),
                }
            if single:
                step(f"gateway: {len(single):,} single POST /v1/events at {rate:g}/s")
                before = await running.records()
                cpu = _ProcessesCpu(running)
                with FrozenHeap() as own_gc, Meter(settings, running.database_url) as meter:
                    outcome, waited = await post_singles(client, running.tokens, single, rate)
                delivered = await running.records() - before
                completed = outcome.sent / meter.readings["wall_s"]  # the last answers' wait included
                results["single"] = {
                    **outcome.summary(),
                    "delivered": delivered,
                    "rate": rate,
                    "completed_per_s": completed,
                    "waited_for_case": waited,
                    **percentiles(outcome.latencies),
                    "openings_p50_ms": percentiles(outcome.opening_latencies)["p50_ms"],
                    "judged_p50_ms": percentiles(outcome.judged_latencies)["p50_ms"],
                    "benchmark_gc": own_gc.summary(),  # the client process's own collections during the row
                    "usage": _usage(meter, cpu.spent(), delivered, completed),
                }
        step("gateway: waiting for the referrals worker to apply everything, then counting dead letters")
        results["referrals_caught_up"] = await _caught_up(running, await running.records(), CATCH_UP_S)
        results["dead_lettered"] = await running.dead_letters()
    for row in ("batch", "single"):
        if row in results and results[row]["first_refusal"]:
            print(f"warning: gateway {row} row: {results[row]['first_refusal']}", file=sys.stderr)
    return results


def cost(usage: dict[str, Any]) -> str:
    """A row's CPU seconds per process, its database backends' and the broker's, and the load average."""
    client, gateway, worker = usage["python_cpu_s"]
    broker = usage["kafka_broker_cpu_s"]
    kafka = "n/a" if broker is None else f"{broker:.2f}"
    load = "→".join(f"{usage[k][0]:.1f}" for k in ("loadavg_start", "loadavg_end"))
    return (
        f"client {client:.2f} / gateway {gateway:.2f} / referrals worker {worker:.2f} / "
        f"pg {usage['postgres_cpu_s']:.2f} / kafka {kafka}; load {load}"
    )


def rows(results: dict[str, Any], costs: bool = True) -> list[list[str]]:
    """The rows' table lines: row, rate or latency, what was delivered, and (``costs``) what they cost.

    benchmarks.run prints them too, with its own cost column (the python CPU there: client+gateway+worker)."""
    out = []
    if batch := results.get("batch"):
        out.append(
            [
                f"gateway: POST /v1/events:batch ({results['batch_size']}/request)",
                f"{batch['per_s']:,.0f}/s",
                f"{batch['delivered']:,}/{batch['sent']:,} delivered, {batch['mean_events_per_request']:.0f}/request",
                cost(batch["usage"]) if costs else "",
            ]
        )
    if single := results.get("single"):
        out.append(
            [
                f"gateway: POST /v1/events p50/p99 at {single['rate']:g}/s",
                f"{single['p50_ms']:.0f}/{single['p99_ms']:.0f} ms",
                f"{single['delivered']:,}/{single['sent']:,} delivered; p50 openings/judged "
                f"{single['openings_p50_ms']:.0f}/{single['judged_p50_ms']:.0f} ms",
                cost(single["usage"]) if costs else "",
            ]
        )
    return out


def render(results: dict[str, Any]) -> str:
    headers = ["row", "rate / latency", "delivered", "CPU s: client / gateway / referrals worker / pg / kafka; load"]
    return text_table(headers, rows(results))


def run(count: int, seconds: float, batch_size: int, rate: float, seed: int) -> dict[str, Any]:

    started = time.monotonic()

    def step(what: str) -> None:
        print(f"[{time.monotonic() - started:6.0f} s] {what}", file=sys.stderr, flush=True)

    settings = load_settings()
    bringup.start_services(settings, log=lambda line: print(line, file=sys.stderr))
    step("generating events")
    events = case_events(1 + count + int(rate * seconds), seed)
    results: dict[str, Any] = {"events": count, "seed": seed, "started": datetime.now(UTC).isoformat()}
    results.update(
        asyncio.run(measure(settings, events, count, batch_size=batch_size, rate=rate, seconds=seconds, step=step))
    )
    results["wall_s"] = time.monotonic() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events sent in batches (default 20,000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the single-POST run (default 30)")
    parser.add_argument("--rate", type=float, default=RATE, help=f"single POSTs per second (default {RATE})")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"events per batch (default {BATCH_SIZE})")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    args = parser.parse_args(argv)
    if args.events < 1 or args.batch_size < 1 or args.rate <= 0 or args.seconds <= 0:
        print("error: --events, --batch-size, --rate and --seconds must be positive", file=sys.stderr)
        return 1
    measure = lambda: run(args.events, args.seconds, args.batch_size, args.rate, args.seed)  # noqa: E731
    return run_and_report(measure, render, "gateway", args.out)


if __name__ == "__main__":
    sys.exit(main())
