"""A retired signing key (`kim agency remove`) and the broker's append time: the pure check, no services.

A retired key verifies a record only if the broker appended it before the retirement; the producer's own time
(CreateTime) never counts, except that records below the offsets where a topic began stamping append times
(``append_time_cutoffs``) were all written before any retirement. The verdict is a function of the record, its
timestamp and the key table alone, so the live worker (faust), the bulk path (aiokafka) and a re-drive (the
letter's headers) must hand the check the same timestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from projections.records import CREATE_TIME, LOG_APPEND_TIME, Applied, LogRecord, Rejection
from schemas import Event
from schemas.signing import PLATFORM_SIGNER, SigningKey
from streams.runtime.authenticity import SignerKey, after_retirement, check, screened
from streams.runtime.dlq import DeadLetter, dlq_headers
from streams.runtime.live import _millis

RETIRED_AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
RETIRED_MS = int(RETIRED_AT.timestamp() * 1000)
WOHNUNGSAMT = SigningKey("WOHNUNGSAMT.0000beef", b"w" * 32)
SOZIALAMT = SigningKey("SOZIALAMT.0000cafe", b"s" * 32)
PLATFORM = SigningKey(PLATFORM_SIGNER, b"p" * 32)
KEYS = {
    WOHNUNGSAMT.key_id: SignerKey("WOHNUNGSAMT", WOHNUNGSAMT.secret, RETIRED_AT),
    SOZIALAMT.key_id: SignerKey("SOZIALAMT", SOZIALAMT.secret),  # active
    PLATFORM_SIGNER: SignerKey(None, PLATFORM.secret),
}
SWITCH = {("kim.cases", 0): 100}  # append_time_cutoffs: from offset 100 on the broker stamps the time


def signed(
    key: SigningKey, timestamp: int | None, timestamp_type: int | None, offset: int = 500, value: bytes = b"v"
) -> LogRecord:
    return LogRecord(
        "kim.cases", 0, offset, b"DO-1", value, tuple(key.headers(b"DO-1", value)), timestamp, timestamp_type
    )


def verdict(record: LogRecord, agency: str = "WOHNUNGSAMT", appended_from: dict | None = None) -> str | None:
    return check(record, agency, KEYS, {}, None, SWITCH if appended_from is None else appended_from)


def test_a_retired_key_verifies_only_what_the_broker_appended_before_its_retirement() -> None:
    assert verdict(signed(WOHNUNGSAMT, RETIRED_MS - 1, LOG_APPEND_TIME)) is None
    assert verdict(signed(WOHNUNGSAMT, RETIRED_MS - 86_400_000, LOG_APPEND_TIME)) is None
    assert verdict(signed(WOHNUNGSAMT, RETIRED_MS, LOG_APPEND_TIME)) == (
        "retired key: signed with WOHNUNGSAMT.0000beef, retired at 2026-05-04T10:00:00.000+00:00; "
        "the record was appended after (at 2026-05-04T10:00:00.000+00:00, the broker's time)"
    )
    after = verdict(signed(WOHNUNGSAMT, RETIRED_MS + 61_500, LOG_APPEND_TIME))
    assert after is not None and after.endswith("appended after (at 2026-05-04T10:01:01.500+00:00, the broker's time)")
    # Below the switch offset, an append time is still the broker's: it decides, not the offset.
    assert verdict(signed(WOHNUNGSAMT, RETIRED_MS + 1, LOG_APPEND_TIME, offset=3)) is not None
    # An active key and the platform's verify whatever the time; the other checks come first.
    assert verdict(signed(SOZIALAMT, RETIRED_MS + 1, LOG_APPEND_TIME), "SOZIALAMT") is None
    assert verdict(signed(PLATFORM, RETIRED_MS + 1, LOG_APPEND_TIME)) is None
    assert verdict(signed(WOHNUNGSAMT, RETIRED_MS + 1, LOG_APPEND_TIME), "SOZIALAMT").startswith("forged source:")
    altered = signed(WOHNUNGSAMT, RETIRED_MS + 1, LOG_APPEND_TIME)._replace(value=b"other")
    assert verdict(altered).startswith("bad signature:")


def test_the_millisecond_of_the_retirement_already_counts_as_after() -> None:
    """Append times are whole milliseconds: a record appended in the millisecond a retirement falls in may have
    been appended after it, so it is refused (`kim agency remove` retires on a whole millisecond)."""
    mid = RETIRED_AT + timedelta(microseconds=500)
    assert after_retirement(signed(WOHNUNGSAMT, RETIRED_MS, LOG_APPEND_TIME), "K", mid, {}) is not None
    assert after_retirement(signed(WOHNUNGSAMT, RETIRED_MS - 1, LOG_APPEND_TIME), "K", mid, {}) is None
    assert "retired at 2026-05-04T10:00:00.000+00:00" in after_retirement(
        signed(WOHNUNGSAMT, RETIRED_MS, LOG_APPEND_TIME), "K", mid, {}
    )


def test_without_the_brokers_time_a_retired_key_counts_only_below_the_switch_to_append_times() -> None:
    # Written before the topic stamped append times: before every retirement, whatever time the producer set.
    assert verdict(signed(WOHNUNGSAMT, RETIRED_MS + 10**9, CREATE_TIME, offset=99)) is None
    # At or past the switch a producer's time cannot be trusted: a backdated record is refused all the same.
    backdated = verdict(signed(WOHNUNGSAMT, RETIRED_MS - 10**9, CREATE_TIME, offset=100))
    assert backdated == (
        "retired key: signed with WOHNUNGSAMT.0000beef, retired at 2026-05-04T10:00:00.000+00:00; the record has no "
        "append time of the broker (timestamp type CreateTime) and lies at offset 100, at or past 100 where its "
        "partition began stamping append times, so when it was appended cannot be told"
    )
    # No switch recorded for the partition (a topic created with LogAppendTime): no CreateTime record counts.
    assert verdict(signed(WOHNUNGSAMT, RETIRED_MS - 1, CREATE_TIME, offset=0), appended_from={}) is not None
    assert verdict(signed(WOHNUNGSAMT, RETIRED_MS - 1, CREATE_TIME, offset=0)._replace(partition=1)) is not None
    # A letter of an older kim carries no timestamp: judged like a CreateTime record.
    assert verdict(signed(WOHNUNGSAMT, None, None, offset=99)) is None
    assert "(timestamp type unknown)" in verdict(signed(WOHNUNGSAMT, None, None, offset=100))
    # The cutoff concerns retired keys only: an active key verifies a CreateTime record anywhere.
    assert verdict(signed(SOZIALAMT, RETIRED_MS + 1, CREATE_TIME, offset=100), "SOZIALAMT") is None


TIMESTAMPS = st.just((None, None)) | st.tuples(  # Kafka gives both or (a letter of an older kim) neither
    st.integers(RETIRED_MS - 5, RETIRED_MS + 5), st.sampled_from([CREATE_TIME, LOG_APPEND_TIME])
)
RECORDS = st.builds(
    lambda key, timestamp, offset: signed(key, *timestamp, offset=offset),
    st.sampled_from([WOHNUNGSAMT, SOZIALAMT, PLATFORM]),
    TIMESTAMPS,
    st.integers(95, 105),
)


@given(st.lists(RECORDS, max_size=12), st.integers(0, 12))
def test_a_verdict_depends_on_the_record_and_the_key_table_only(records: list[LogRecord], split: int) -> None:
    """What a rebuild decides in one batch the live worker decides in any batching, with or without the memo of
    checked signatures, and a re-drive from the letter's headers decides the same."""
    event = Event("CaseOpened", {"source_agency": "WOHNUNGSAMT"}, {})
    decoded = [Applied(r, event) for r in records]

    def refused(batches: list[list[Applied]], memo: bool) -> list[tuple[int, str]]:
        out = []
        for batch in batches:
            _, rejected = screened(batch, KEYS, {}, {} if memo else None, SWITCH)
            out += [(r.record.offset, r.reason) for r in rejected]
        return out

    whole = refused([decoded], memo=False)
    assert refused([decoded[:split], decoded[split:]], memo=True) == whole
    letters = [_redriven(r) for r in records]
    assert refused([[Applied(r, event) for r in letters]], memo=False) == whole


def _redriven(record: LogRecord) -> LogRecord:
    """The record as `kim dlq redrive` rebuilds it from its dead letter's headers."""
    headers = {k: v.decode() for k, v in dlq_headers("caseload", Rejection(record, "why"))}
    letter = DeadLetter("kim.dlq", 0, 0, record.key, record.value, headers)
    signed_again = tuple((k, v.encode()) for k, v in headers.items() if k in ("kim.signer", "kim.sig"))
    return LogRecord(*letter.source, letter.key, letter.value, signed_again, *letter.source_timestamp)


@given(st.integers(0, 4_102_444_800_000))  # up to 2100
def test_the_live_worker_sees_the_timestamp_the_bulk_path_sees(millis: int) -> None:
    """faust hands the worker Kafka's timestamp in seconds (aiokafka's ms / 1000); back in ms it is the same."""
    assert _millis(millis / 1000.0) == millis
    assert _millis(None) is None
