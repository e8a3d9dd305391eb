"""Which dead letters an agency is shown (pure): those of the records it signed, newest first, nothing else."""

from __future__ import annotations

from streams.runtime.dlq import DeadLetter
from streams.usecases.agency_letters import own_letters


def letter(offset: int, signer: str | None, failed_at: str) -> DeadLetter:
    headers = {"kim.reason": f"reason {offset}", "kim.projection": "caseload", "kim.failed_at": failed_at}
    headers |= {"kim.source.topic": "kim.cases", "kim.source.partition": "2", "kim.source.offset": str(offset)}
    if signer is not None:
        headers["kim.signer"] = signer
    return DeadLetter("kim.dlq", 0, offset, b"DO-1", b"bytes never shown", headers)


def test_only_the_letters_of_records_the_agency_signed_newest_first() -> None:
    letters = [
        letter(0, "JOBCENTER.3f9a1c2b", "2026-03-01T10:00:00+00:00"),
        letter(1, "JOBCENTER.0000aaaa", "2026-03-02T10:00:00+00:00"),  # another key of the same agency
        letter(2, "JUGENDAMT.77aa0011", "2026-03-03T10:00:00+00:00"),
        letter(3, "kim-platform", "2026-03-04T10:00:00+00:00"),  # the platform speaking for an agency
        letter(4, None, "2026-03-05T10:00:00+00:00"),  # unsigned
    ]
    shown, total = own_letters("JOBCENTER", letters)
    assert total == 2 and [x["source"]["offset"] for x in shown] == [1, 0]
    assert shown[0] == {
        "projection": "caseload",
        "reason": "reason 1",
        "event_type": None,
        "key": "DO-1",
        "source": {"topic": "kim.cases", "partition": 2, "offset": 1},
        "failed_at": "2026-03-02T10:00:00+00:00",
        "attempt": 1,
    }
    assert own_letters("JOBCENTER", letters, shown=1)[0][0]["source"]["offset"] == 1
    assert own_letters("SCHULAMT", letters) == ([], 0)
