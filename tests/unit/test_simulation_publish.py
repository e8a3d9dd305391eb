"""``publish_in_order`` with stand-in publishers: a key's event waits for the ack of its predecessor only when that
predecessor went through another agency's producer; the returned offsets are the next offset per partition."""

from __future__ import annotations

import asyncio
import io
import random
from itertools import count
from typing import Any

import pytest

import streams.usecases.publish_in_order as ordered
from schemas.signing import PLATFORM_SIGNER, SigningKey
from simulation import SimulationConfig, simulate_list
from streams.runtime.progress import Progress
from streams.sdk.publisher import EventDraft, Outgoing, Published
from streams.usecases.publish_in_order import rounds


class Recorder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.sent: list[tuple[int, str, tuple[str, bytes]]] = []  # (seq, agency, key)
        self.drafts: list[EventDraft] = []
        self.acked: set[int] = set()
        self.acked_before_send: dict[int, set[int]] = {}
        self.offsets: dict[tuple[str, int], int] = {}
        self.seq = count()
        self.started: list[str] = []
        self.stopped: list[str] = []


PLATFORM = SigningKey(PLATFORM_SIGNER, b"p" * 32)


def fake_publisher(recorder: Recorder) -> type:
    class FakePublisher:
        def __init__(self, bootstrap: str, agency: str, topic_prefix: str = "", **_: Any) -> None:
            self.agency, self.prefix = agency, topic_prefix

        async def start(self) -> None:
            recorder.started.append(self.agency)

        async def stop(self) -> None:
            recorder.stopped.append(self.agency)

        def prepare(self, draft: EventDraft) -> Any:
            p = draft.payload
            topic = self.prefix + ("kim.immigration" if "application_id" in p else "kim.cases")
            key = (p.get("application_id") or p["case_id"]).encode()
            return type("Out", (), {"topic": topic, "key": key, "draft": draft})()

        async def send(self, batch: list[Any]) -> list[Published]:
            """Like Publisher.send: hand every event to the producer, then wait for all acknowledgements."""
            sent = []
            for outgoing in batch:
                seq = next(recorder.seq)
                tp = (outgoing.topic, sum(outgoing.key) % 3)
                offset = recorder.offsets.get(tp, 0)
                recorder.offsets[tp] = offset + 1
                recorder.sent.append((seq, self.agency, (outgoing.topic, outgoing.key)))
                recorder.drafts.append(outgoing.draft)
                recorder.acked_before_send[seq] = set(recorder.acked)
                sent.append((seq, tp, offset))
            await asyncio.sleep(recorder.rng.uniform(0, 0.003))
            recorder.acked.update(seq for seq, _, _ in sent)
            return [Published(tp[0], tp[1], offset, str(seq)) for seq, tp, offset in sent]

    return FakePublisher


@pytest.mark.parametrize("chunk", [7, 500, 100_000])
def test_a_key_waits_for_its_predecessor_only_across_producers(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    events = simulate_list(SimulationConfig(years=0.3, scale=0.05, seed=1))
    recorder = Recorder(seed=chunk)
    monkeypatch.setattr(ordered, "Publisher", fake_publisher(recorder))
    progress = Progress(len(events), "publish", out=io.StringIO())
    targets = asyncio.run(
        ordered.publish_in_order("fake:9092", events, "p.", progress=progress, chunk=chunk, platform_key=PLATFORM)
    )

    def key_of(event: Any) -> tuple[str, bytes]:
        p = event.draft.payload
        topic = "p.kim.immigration" if "application_id" in p else "p.kim.cases"
        return topic, (p.get("application_id") or p["case_id"]).encode()

    given: dict[tuple[str, bytes], list[int]] = {}
    for event in events:
        given.setdefault(key_of(event), []).append(id(event.draft))
    sent: dict[tuple[str, bytes], list[int]] = {}
    for (_, _, key), draft in zip(recorder.sent, recorder.drafts, strict=True):
        sent.setdefault(key, []).append(id(draft))
    assert sent == given  # every event sent once, each key's events in the given order
    previous: dict[tuple[str, bytes], tuple[int, str]] = {}
    across = pipelined = 0
    for seq, agency, key in recorder.sent:
        if key in previous:
            before, before_agency = previous[key]
            if before_agency != agency:
                assert before in recorder.acked_before_send[seq], "sent before its predecessor was acknowledged"
                across += 1
            elif before not in recorder.acked_before_send[seq]:
                pipelined += 1  # same producer: Kafka keeps the order, no need to wait
        previous[key] = (seq, agency)
    assert across > 50
    assert pipelined > 0 or chunk < 10
    assert targets == recorder.offsets  # the next offset of every partition written
    assert progress.done == len(events)
    assert sorted(recorder.started) == sorted(recorder.stopped) == sorted({e.agency for e in events})


def test_a_failed_send_stops_the_run_and_closes_every_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    events = simulate_list(SimulationConfig(years=0.1, scale=0.05, seed=1))
    recorder = Recorder(seed=1)
    base = fake_publisher(recorder)

    class Failing(base):  # type: ignore[misc, valid-type]
        async def send(self, batch: list[Any]) -> list[Published]:
            if len(recorder.sent) > 50:
                raise RuntimeError("broker gone")
            return await super().send(batch)

    monkeypatch.setattr(ordered, "Publisher", Failing)
    with pytest.raises(RuntimeError, match="broker gone"):
        asyncio.run(ordered.publish_in_order("fake:9092", events, chunk=40, platform_key=PLATFORM))
    assert sorted(recorder.started) == sorted(recorder.stopped)


def test_rounds_split_a_window_where_a_key_changes_producer() -> None:
    def out(key: str) -> Outgoing:
        return Outgoing("kim.cases", key.encode(), b"", key)

    pairs = [("A", out("k1")), ("A", out("k2")), ("B", out("k1")), ("A", out("k1")), ("B", out("k2")), ("B", out("k3"))]
    assert [{agency: [o.key for o in batch] for agency, batch in r.items()} for r in rounds(pairs)] == [
        {"A": [b"k1", b"k2"], "B": [b"k3"]},  # k3 is new: first round; k2 changes producer only after k1 did
        {"B": [b"k1", b"k2"]},
        {"A": [b"k1"]},
    ]
