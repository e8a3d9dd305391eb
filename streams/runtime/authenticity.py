"""The stream side's check that a record's ``source_agency`` is who signed it (docs/domain.md rule 3).

``screened`` splits the decoded events of a batch into accepted events and dead letters with the reason,
given the signing keys and the legacy cutoffs (records below these offsets were written before signing
existed and are accepted unsigned). Its edge ``authenticity_io.screen`` reads them from PostgreSQL inside
the sink transaction, per batch, so an agency added or removed a second ago is judged accordingly at once.

A retired key (`kim agency remove`) verifies only records **appended before its retirement**, judged by the
time the broker appended the record (the event topics are ``message.timestamp.type=LogAppendTime``), never by
a time the producer chose. Records written before the topics stamped append times carry the producer's time
(CreateTime); they all precede the switch, whose end offsets `kim up` records once (``append_time_cutoffs``):
below them a record counts as appended before every retirement, at or past them a CreateTime record signed by
a retired key is refused (its time cannot be trusted). The verdict depends only on the record, its timestamp and
the key table, so the live worker, a rebuild and a re-drive reach the same one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from projections.records import LOG_APPEND_TIME, Applied, LogRecord, Rejection, TopicPartition
from schemas.rules import PLATFORM_EVENTS
from schemas.signing import PLATFORM_SIGNER, SIG_HEADER, SIGNER_HEADER, verify_claim


class SignerKey(NamedTuple):
    """A key of the key table, as the check needs it."""

    agency: str | None  # the agency it speaks for; None: any (the platform's)
    secret: bytes
    retired_at: datetime | None = None  # `kim agency remove`: from then on it verifies nothing appended


Keys = dict[str, SignerKey]  # key id -> its key
Cutoffs = Mapping[TopicPartition, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_TYPES: dict[int | None, str] = {0: "CreateTime", 1: "LogAppendTime"}
# Signatures already checked: (id of the record, secret) -> whether it verified. The HMAC is a pure function of
# the record and the secret, so the projections fed by one read (runner.prepare_many) share one check per record;
# whoever holds the mapping holds the records too (a ``Prepared``), so the ids stay theirs.
Verified = dict[tuple[int, bytes], bool]
_PLATFORM = PLATFORM_SIGNER.encode()


def _signature_headers(record: LogRecord) -> tuple[bytes | None, bytes | None]:
    """``kim.signer`` and ``kim.sig``, the last of each name (as a dict of the headers would keep).

    Scanned rather than made a dict: this runs for every record of a rebuild.
    """
    signer = claimed = None
    for name, header in record.headers:
        if name == SIGNER_HEADER:
            signer = header
        elif name == SIG_HEADER:
            claimed = header
    return signer, claimed


def check(
    record: LogRecord,
    source_agency: str,
    keys: Keys,
    cutoffs: Cutoffs,
    verified: Verified | None = None,
    appended_from: Cutoffs | None = None,
) -> str | None:
    """Why this record may not count for ``source_agency``, or None when it may. Pure (``verified`` is a memo).

    ``cutoffs``: below them records were written before signing existed; ``appended_from``: below them records
    were written before their topic stamped append times (``append_time_cutoffs``; none known: 0).
    """
    signer, claimed = _signature_headers(record)
    if signer is None:
        if record.offset < cutoffs.get(record.tp, 0):
            return None  # written before records were signed
        return (
            f"unsigned: the record claims {source_agency} but carries no kim.signer/kim.sig headers; "
            "publish with the SDK and the agency's signing key"
        )
    key_id = signer.decode(errors="replace")
    known = keys.get(key_id)
    if known is None:
        return f"unknown signer {key_id!r}: no such signing key (kim agency list)"
    agency, secret, retired_at = known
    if agency is not None and agency != source_agency:
        return f"forged source: the record claims source_agency {source_agency} but was signed by {agency}"
    if verified is None:
        good = verify_claim(claimed, record.key, record.value, secret)
    else:
        memo = (id(record), secret)
        good = verified.get(memo)
        if good is None:
            good = verified[memo] = verify_claim(claimed, record.key, record.value, secret)
    if not good:
        return f"bad signature: kim.sig does not verify under {key_id}'s key (altered, or signed with another key)"
    if retired_at is not None:
        return after_retirement(record, key_id, retired_at, appended_from or {})
    return None


def after_retirement(record: LogRecord, key_id: str, retired_at: datetime, appended_from: Cutoffs) -> str | None:
    """Why a record signed with a key retired at ``retired_at`` does not count, or None when it was appended
    before. Pure.

    The broker's append time decides, to the millisecond: a record counts if it was appended in a millisecond
    before the one ``retired_at`` falls in. A record without an append time (CreateTime, or a letter of an older
    kim that did not carry it) counts only below ``appended_from``: written before its topic stamped append
    times, hence before any key could be retired.
    """
    retired = _iso(retired_at)
    if record.timestamp_type == LOG_APPEND_TIME and record.timestamp is not None:
        if record.timestamp < (retired_at - _EPOCH) // _MILLISECOND:
            return None
        appended = _iso(_EPOCH + record.timestamp * _MILLISECOND)
        return (
            f"retired key: signed with {key_id}, retired at {retired}; "
            f"the record was appended after (at {appended}, the broker's time)"
        )
    cutoff = appended_from.get(record.tp, 0)
    if record.offset < cutoff:
        return None  # written before the topic stamped append times: before every retirement
    kind = _TYPES.get(record.timestamp_type, "unknown")  # None: a letter of an older kim
    return (
        f"retired key: signed with {key_id}, retired at {retired}; the record has no append time of the broker "
        f"(timestamp type {kind}) and lies at offset {record.offset}, at or past {cutoff} where its partition began "
        "stamping append times, so when it was appended cannot be told"
    )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def platform_only(record: LogRecord, event_type: str) -> str | None:
    """An erasure event counts only when the platform signed it (``kim erase``): no agency may erase. Pure."""
    if _signature_headers(record)[0] == _PLATFORM:  # the same kim.signer ``check`` verified
        return None
    return f"not the platform's: {event_type} is published by `kim erase` only (signed by the platform)"


def screened(
    decoded: list[Applied],
    keys: Keys,
    cutoffs: Cutoffs,
    verified: Verified | None = None,
    appended_from: Cutoffs | None = None,
) -> tuple[list[Applied], list[Rejection]]:
    """The events whose signer may speak for their source agency, and dead letters for the others. Pure."""
    accepted: list[Applied] = []
    rejected: list[Rejection] = []
    for item in decoded:
        reason = check(item.record, item.event.source_agency, keys, cutoffs, verified, appended_from)
        if reason is None and item.event.event_type in PLATFORM_EVENTS:
            reason = platform_only(item.record, item.event.event_type)
        if reason is None:
            accepted.append(item)
        else:
            rejected.append(Rejection(item.record, reason, item.event.event_type))
    return accepted, rejected
