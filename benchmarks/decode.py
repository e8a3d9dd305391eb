"""Decode throughput, as a replay sees it: ``python -m benchmarks.decode [--count N] [--repeat R] [--out FILE]``.

Pure CPU, no broker: encodes ``count`` distinct CasePaused events per variant, then measures records per
second of ``Codec.decode`` on

- current-version messages (v2: writer = reader, no resolution);
- old-version messages (v1, reason WAITING_FOR_DECISION) with resolution only (upcaster left out);
- old-version messages (v1, reason CLIENT_AWAY) with resolution and the upcaster that changes them;
- old-version messages resolved by fastavro on every call (how the codec read old versions before);

and the raw fastavro baselines on the same bodies: ``schemaless_reader`` with the writer schema only,
and with the writer and the reader schema (fastavro's own resolution). Also the stored sample of
every published version (``schemas/history``), as a mixed replay. Best of ``repeat`` round-robin runs; prints a
table and writes JSON (default ``results/decode.json``).
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader

from benchmarks.results import write_results
from schemas import Codec
from schemas.codec import HEADER_SIZE
from schemas.history import stored_samples
from schemas.samples import sample_envelope

OUT = Path("results/decode.json")
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def _events(codec: Codec, count: int, version: int, reason: str) -> list[bytes]:
    """``count`` distinct CasePaused events written by ``version``."""
    messages = []
    for i in range(count):
        at = START + timedelta(minutes=7 * i)
        envelope = {**sample_envelope("CasePaused", at), "event_id": f"00000000-0000-4000-8000-{i:012d}"}
        payload = {"case_id": f"DO-2025-{i:06d}", "reason": reason, "resume_by": at.date() + timedelta(days=30)}
        if version == 2:
            payload["expected_resume_on"] = at.date() + timedelta(days=45)
        messages.append(codec.encode("CasePaused", envelope, payload, version=version))
    return messages


def _decode_all(decode: Callable[[bytes], Any], messages: list[bytes]) -> Callable[[], int]:
    def run() -> int:
        for message in messages:
            decode(message)
        return len(messages)

    return run


def _raw(messages: list[bytes], writer: dict[str, Any], reader: dict[str, Any] | None) -> Callable[[], int]:
    bodies = [m[HEADER_SIZE:] for m in messages]

    def run() -> int:
        for body in bodies:
            schemaless_reader(io.BytesIO(body), writer, reader)
        return len(bodies)

    return run


def measure(count: int, repeat: int) -> dict[str, Any]:
    codec = Codec()
    current = codec.schema_for("CasePaused")
    v1 = codec.schema_for("CasePaused", version=1)
    now = _events(codec, count, 2, "WAITING_FOR_DECISION")
    old = _events(codec, count, 1, "WAITING_FOR_DECISION")
    away = _events(codec, count, 1, "CLIENT_AWAY")
    assert codec.decode(away[0]).payload["expected_resume_on"] is not None, "the upcaster did not run"

    # Variants of the v1 plan: without its upcaster, and with fastavro's per-call resolution instead of the plan.
    plan = codec._plan(v1.fingerprint)
    no_upcast = Codec()
    no_upcast._plans[v1.fingerprint] = replace(plan, upcasters=())
    per_call = Codec()
    per_call._plans[v1.fingerprint] = replace(plan, resolve=None, fastavro_reader=current.parsed)

    samples = [s.data for s in stored_samples()]
    mixed = samples * max(1, count // len(samples))
    runs = {
        "codec_current_version": _decode_all(codec.decode, now),
        "codec_old_version_resolved": _decode_all(no_upcast.decode, old),
        "codec_old_version_resolved_upcast": _decode_all(codec.decode, away),
        "codec_old_version_fastavro_per_call": _decode_all(per_call.decode, away),
        "codec_stored_samples_mix": _decode_all(codec.decode, mixed),
        "fastavro_writer_only_current": _raw(now, current.parsed, None),
        "fastavro_writer_only_old": _raw(old, v1.parsed, None),
        "fastavro_with_reader_schema_old": _raw(old, v1.parsed, current.parsed),
    }
    # Round-robin, best of ``repeat``: a busy machine slows every variant alike instead of one of them.
    best = dict.fromkeys(runs, float("inf"))
    counts = dict.fromkeys(runs, 0)
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            counts[name] = run()
            best[name] = min(best[name], time.perf_counter() - started)
    rows = {name: counts[name] / best[name] for name in runs}
    return {
        "count": count,
        "repeat": repeat,
        "records_per_s": rows,
        "stored_samples": len(samples),
        "machine": {"python": platform.python_version(), "implementation": platform.python_implementation()},
        "measured_at": datetime.now(UTC).isoformat(),
    }


LABELS = {
    "codec_current_version": "Codec.decode, current version (v2, no resolution)",
    "codec_old_version_resolved": "Codec.decode, v1 → v2 resolution (compiled plan)",
    "codec_old_version_resolved_upcast": "Codec.decode, v1 → v2 resolution + upcaster",
    "codec_old_version_fastavro_per_call": "Codec.decode, v1 → v2 via fastavro per call (before)",
    "codec_stored_samples_mix": "Codec.decode, stored sample of every version (mix)",
    "fastavro_writer_only_current": "fastavro schemaless_reader, writer only (v2)",
    "fastavro_writer_only_old": "fastavro schemaless_reader, writer only (v1)",
    "fastavro_with_reader_schema_old": "fastavro schemaless_reader, v1 writer + v2 reader",
}


def render(results: dict[str, Any]) -> str:
    rows = results["records_per_s"]
    width = max(len(label) for label in LABELS.values())
    lines = [f"{'decode of ' + str(results['count']) + ' CasePaused events':<{width}}  records/s", "-" * (width + 12)]
    lines += [f"{LABELS[key]:<{width}}  {rate:>9,.0f}" for key, rate in rows.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="events per variant (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; the best counts (default 3)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON results (default {OUT})")
    args = parser.parse_args(argv)
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be at least 1")
    results = measure(args.count, args.repeat)
    print(render(results))
    write_results(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
