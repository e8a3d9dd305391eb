"""What sealing the client costs per event: ``python -m benchmarks.sealing`` (prints, writes results/sealing.json).

Measures, on one core and without services: ``KeyRing.seal_payload`` alone (dictionary lookup + AES-256-GCM of
the pseudonym); encoding a CaseOpened with the client in clear and sealed (the nested record costs a little to
validate and write); and ``Preparer.prepare`` against ``Codec.encode`` for a sealed CaseOpened and an unsealed
CaseClosed (what preparing adds besides sealing: ids, clock, key). Only CaseOpened and ApplicationFiled are
sealed; other types pay nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.results import write_results
from schemas import Codec
from schemas.samples import SAMPLE_AT, sample_envelope, sample_payload
from schemas.sealing import KeyRing, new_key
from streams.sdk.draft import EventDraft
from streams.sdk.prepare import Preparer

OUT = Path("results/sealing.json")


def per_call_us(call: Callable[[], object], seconds: float = 1.0) -> float:
    """Microseconds per call, best of three runs of about ``seconds / 3`` each."""
    best = float("inf")
    for _ in range(3):
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 3:
            for _ in range(100):
                call()
            n += 100
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def main() -> None:
    codec = Codec()
    keys = KeyRing()
    payload = sample_payload("CaseOpened")
    keys.add(payload["client_ref"], *new_key())
    preparer = Preparer("KIM_CASE_MANAGEMENT", codec=codec, keys=keys)
    draft = EventDraft("CaseOpened", payload, occurred_at=SAMPLE_AT)
    envelope = sample_envelope("CaseOpened")
    sealed = keys.seal_payload("CaseOpened", payload)
    closer = Preparer("KIM_CASE_MANAGEMENT", codec=codec)
    closing = EventDraft("CaseClosed", sample_payload("CaseClosed"), occurred_at=SAMPLE_AT)
    closed_envelope = sample_envelope("CaseClosed")
    results = {
        "seal_payload_us": per_call_us(lambda: keys.seal_payload("CaseOpened", payload)),
        "prepare_sealed_case_opened_us": per_call_us(lambda: preparer.prepare(draft)),
        "encode_unsealed_case_opened_us": per_call_us(lambda: codec.encode("CaseOpened", envelope, payload)),
        "encode_sealed_case_opened_us": per_call_us(lambda: codec.encode("CaseOpened", envelope, sealed)),
        "prepare_case_closed_us": per_call_us(lambda: closer.prepare(closing)),
        "encode_case_closed_us": per_call_us(lambda: codec.encode("CaseClosed", closed_envelope, closing.payload)),
    }
    results["sealing_share_of_prepare"] = results["seal_payload_us"] / results["prepare_sealed_case_opened_us"]
    for name, value in results.items():
        print(f"{name}: {value:.3f}")
    write_results(OUT, results)


if __name__ == "__main__":
    main()
