"""The stream side's check that a record's ``source_agency`` is who signed it (docs/domain.md rule 3).

``screened`` splits the decoded events of a batch into accepted events and dead letters with the reason,
given the signing keys and the legacy cutoffs (records below these offsets were written before signing
existed and are accepted unsigned). Its edge ``authenticity_io.screen`` reads both from PostgreSQL inside
the sink transaction, per batch, so an agency added a second ago is verifiable at once.
"""

from __future__ import annotations

from projections.records import Applied, LogRecord, Rejection, TopicPartition
from schemas.rules import PLATFORM_EVENTS
from schemas.signing import PLATFORM_SIGNER, SIG_HEADER, SIGNER_HEADER, verify_claim

Keys = dict[str, tuple[str | None, bytes]]  # key id -> (agency it speaks for, None: any; secret)
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
    cutoffs: dict[TopicPartition, int],
    verified: Verified | None = None,
) -> str | None:
    """Why this record may not count for ``source_agency``, or None when it may. Pure (``verified`` is a memo)."""
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
    agency, secret = known
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
    return None


def platform_only(record: LogRecord, event_type: str) -> str | None:
    """An erasure event counts only when the platform signed it (``kim erase``): no agency may erase. Pure."""
    if _signature_headers(record)[0] == _PLATFORM:  # the same kim.signer ``check`` verified
        return None
    return f"not the platform's: {event_type} is published by `kim erase` only (signed by the platform)"


def screened(
    decoded: list[Applied], keys: Keys, cutoffs: dict[TopicPartition, int], verified: Verified | None = None
) -> tuple[list[Applied], list[Rejection]]:
    """The events whose signer may speak for their source agency, and dead letters for the others. Pure."""
    accepted: list[Applied] = []
    rejected: list[Rejection] = []
    for item in decoded:
        reason = check(item.record, item.event.source_agency, keys, cutoffs, verified)
        if reason is None and item.event.event_type in PLATFORM_EVENTS:
            reason = platform_only(item.record, item.event.event_type)
        if reason is None:
            accepted.append(item)
        else:
            rejected.append(Rejection(item.record, reason, item.event.event_type))
    return accepted, rejected
