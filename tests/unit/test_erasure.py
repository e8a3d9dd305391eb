"""Crypto-shredding without services: sealing and opening the pseudonym, and every fold's handling of an erasure
(anonymous rows, totals unchanged, later events refused, equal to the oracle in any batching)."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.backlog.fold import fold as backlog_fold
from projections.caseload.fold import fold as caseload_fold
from projections.erasure import ERASED, anonymous_id
from projections.referrals.fold import fold as referrals_fold
from schemas import Codec, Event
from schemas.samples import SAMPLE_KEYS, sample_event
from schemas.sealing import ClientKey, KeyRing, SealError, client_refs, new_key, seal, unseal
from streams.usecases.erasure import Receipt, digest, erasure_events, render
from tests.oracles import compare
from tests.oracles.history import generate
from tests.unit.events import T0, closed, envelope, opened

KEY = ClientKey.of("k-test", bytes(range(32)))
FOLDS = {
    "caseload": compare.fold_caseload,
    "referrals": compare.fold_referrals,
    "backlog": compare.fold_backlog,
    "outcomes": compare.fold_outcomes,
}


# --- sealing ---------------------------------------------------------------------------------------


def test_a_sealed_pseudonym_opens_with_its_key_and_nowhere_else() -> None:
    sealed = seal(KEY, "P-7f3a9c2e41b8", "CaseOpened", "DO-1")
    assert sealed["key_id"] == "k-test" and b"P-7f3a9c2e41b8" not in sealed["ciphered"]
    assert len(sealed["ciphered"]) == 12 + len("P-7f3a9c2e41b8") + 16
    assert unseal(KEY, sealed, "CaseOpened", "DO-1") == "P-7f3a9c2e41b8"
    with pytest.raises(SealError, match="moved from another case"):
        unseal(KEY, sealed, "CaseOpened", "DO-2")  # copied into another case: the associated data differs
    with pytest.raises(SealError, match="moved from another case"):
        unseal(KEY, sealed, "ApplicationFiled", "DO-1")
    with pytest.raises(SealError, match="another key"):
        unseal(ClientKey.of("k-other", bytes(32)), sealed, "CaseOpened", "DO-1")
    with pytest.raises(SealError, match="altered"):
        unseal(ClientKey.of("k-test", bytes(32)), sealed, "CaseOpened", "DO-1")  # a destroyed key, guessed
    tampered = {**sealed, "ciphered": sealed["ciphered"][:-1] + bytes([sealed["ciphered"][-1] ^ 1])}
    with pytest.raises(SealError, match="altered"):
        unseal(KEY, tampered, "CaseOpened", "DO-1")


def test_two_seals_of_one_pseudonym_differ() -> None:
    """A fresh nonce each time: equal ciphertexts would let a reader link one client's cases without the key."""
    one, two = (seal(KEY, "P-7f3a9c2e41b8", "CaseOpened", "DO-1") for _ in range(2))
    assert one["ciphered"] != two["ciphered"]


def test_the_payload_on_the_log_carries_the_client_only_sealed() -> None:
    keys = KeyRing()
    key = keys.add("P-abcdef", *new_key())
    payload = {"case_id": "DO-9", "client_ref": "P-abcdef", "district": "EVING"}
    sealed = keys.seal_payload("CaseOpened", payload)
    assert sealed["client_ref"] is None and sealed["client_sealed"]["key_id"] == key.key_id
    assert unseal(key, sealed["client_sealed"], "CaseOpened", "DO-9") == "P-abcdef"
    assert keys.seal_payload("CaseClosed", {"case_id": "DO-9"}) == {"case_id": "DO-9"}  # other types untouched
    assert client_refs("CaseOpened", payload) == ["P-abcdef"] and client_refs("CaseClosed", payload) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"case_id": "DO-9"}, "payload.client_ref: required field is missing"),
        ({"case_id": "DO-9", "client_ref": "Erika Mustermann"}, "payload.client_ref: must be a pseudonym"),
        ({"case_id": "DO-9", "client_ref": "P-unknown"}, "payload.client_ref: no key of this client is loaded"),
        (
            {"case_id": "DO-9", "client_ref": "P-abcdef", "client_sealed": {"key_id": "k-x", "ciphered": b""}},
            "payload.client_sealed: set by the platform",
        ),
    ],
)
def test_what_cannot_be_sealed_is_named_without_echoing_the_value(payload: dict[str, Any], reason: str) -> None:
    keys = KeyRing()
    keys.add("P-abcdef", *new_key())
    with pytest.raises(SealError) as raised:
        keys.seal_payload("CaseOpened", payload)
    assert str(raised.value).startswith(reason)
    assert "Erika" not in str(raised.value)


def test_old_v1_events_are_read_without_their_clear_pseudonym() -> None:
    codec = Codec()
    event = opened("DO-OLD1", sealed=False)
    data = codec.encode("CaseOpened", event.envelope, event.payload, version=1)
    assert b"P-DO-OLD1" in data  # a v1 record carries it in clear: that cannot be changed in the log
    assert codec.decode(data).payload["client_ref"] is None  # but no reader sees it any more


def test_the_sample_event_is_sealed_with_the_sample_key() -> None:
    sample = sample_event("ApplicationFiled")
    key = SAMPLE_KEYS.keys["P-7f3a9c2e41b8"]
    assert unseal(key, sample.payload["client_sealed"], "ApplicationFiled", "ABH-2025-018342") == "P-7f3a9c2e41b8"


# --- folds -----------------------------------------------------------------------------------------


def erased(event_type: str, key_field: str, key: str, at_day: int = 30, seed: int = 0) -> Event:
    at = T0 + timedelta(days=at_day)
    env = envelope(event_type, "KOMMUNALES_INTEGRATIONSZENTRUM", at)
    env["event_id"] = str(uuid.UUID(int=random.Random(f"{seed}:{key}").getrandbits(128), version=4))
    return Event(event_type, env, {key_field: key, "erasure_id": "ER-T9"})


def case_erased(case_id: str, day: int = 30, seed: int = 0) -> Event:
    return erased("CaseErased", "case_id", case_id, day, seed)


def sealed_opened(case_id: str) -> Event:
    event = opened(case_id, sealed=False)
    keys = KeyRing()
    keys.add(event.payload["client_ref"], f"k-{case_id}", bytes(32))
    return Event(event.event_type, event.envelope, keys.seal_payload("CaseOpened", event.payload))


def test_caseload_keeps_an_erased_case_as_an_anonymous_row_and_refuses_what_follows() -> None:
    erasure = case_erased("DO-1")
    result = caseload_fold({}, [sealed_opened("DO-1"), opened("DO-2", sealed=False), erasure, closed("DO-1", day=31)])
    row = result.changed["DO-1"]
    assert row.case_id == anonymous_id(erasure) and row.case_id.startswith(ERASED)
    assert (row.client_key_id, row.case_manager_ref, row.consents, row.seen) == (None, None, "{}", [])
    assert (row.district, row.status, row.opened_at) == ("EVING", "open", T0)  # still counts where it did
    assert result.changed["DO-2"].client_key_id is None  # a v1-shaped (unsealed) opening has no key id
    assert result.rejected == [(3, "case DO-1 was erased")]


def test_the_key_id_of_a_sealed_opening_is_kept_to_find_the_case() -> None:
    assert caseload_fold({}, [sealed_opened("DO-3")]).changed["DO-3"].client_key_id == "k-DO-3"


def test_erasing_what_is_not_there_or_twice_changes_nothing() -> None:
    assert caseload_fold({}, [case_erased("DO-404")]).changed == {}
    twice = caseload_fold({}, [opened("DO-1", sealed=False), case_erased("DO-1"), case_erased("DO-1", seed=1)])
    assert twice.rejected == [] and twice.changed["DO-1"].case_id == anonymous_id(case_erased("DO-1"))
    assert referrals_fold({}, [case_erased("DO-404")]).cases == {}
    assert backlog_fold({}, [erased("ApplicationErased", "application_id", "ABH-404")]).changed == {}


# --- the property: totals before == totals after, and the oracle agrees --------------------------


def totals(tables: dict[str, dict]) -> dict[str, Counter]:
    """What the aggregates count, per table (no ids)."""
    fields = {
        "caseload_cases": ("agency", "district", "status", "closure_reason", "opened_at", "closed_at", "lebenslagen"),
        "referral_cases": ("status", "opened_at", "closed_at"),
        "referrals": ("from_agency", "to_agency", "lebenslage", "status", "issued_at", "completed_at"),
        "backlog_applications": ("office", "procedure", "state", "filed_at", "decided_at", "decision"),
        "backlog_intervals": ("procedure", "state", "valid_from", "valid_to"),
        "outcomes_cases": ("district", "status", "holder", "opened_at", "closed_at", "closure_reason", "handovers"),
        "outcomes_goals": ("lebenslage", "agency", "district", "status", "agreed_at", "resolved_at"),
    }
    return {
        table: Counter(tuple(str(row[f]) for f in fields[table]) for row in rows.values())
        for table, rows in tables.items()
    }


def with_erasures(events: list[Event], rng: random.Random, share: float, at_end: bool) -> tuple[list[Event], set]:
    """The history with some cases and applications erased (at the end, or anywhere after their first event)."""
    out = list(events)
    chosen: set[str] = set()
    firsts: dict[tuple[str, str], int] = {}
    for i, e in enumerate(events):
        for field, kind in (("case_id", "CaseErased"), ("application_id", "ApplicationErased")):
            if kind == "CaseErased" and "application_id" in e.payload:
                continue
            if e.payload.get(field) is not None:
                firsts.setdefault((field, e.payload[field]), i)
    for (field, key), first in sorted(firsts.items(), key=lambda f: f[1], reverse=True):
        if rng.random() >= share:
            continue
        chosen.add(key)
        kind = "CaseErased" if field == "case_id" else "ApplicationErased"
        at = events[-1].occurred_at if at_end else events[first].occurred_at
        erasure = erased(kind, field, key, seed=rng.randrange(1 << 30))
        erasure = Event(kind, {**erasure.envelope, "occurred_at": at, "recorded_at": at}, erasure.payload)
        out.insert(len(out) if at_end else rng.randint(first + 1, len(out)), erasure)
    return out, chosen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(FOLDS)),
    seed=st.integers(0, 10_000),
    cases=st.integers(1, 20),
    applications=st.integers(0, 12),
    share=st.floats(0.1, 1.0),
    cuts=st.lists(st.integers(0, 1000), max_size=10),
)
def test_erasing_at_the_end_keeps_every_total_and_leaves_no_erased_id(
    name: str, seed: int, cases: int, applications: int, share: float, cuts: list[int]
) -> None:
    events = compare.as_events(generate(seed, cases, applications), seed=seed)
    before = FOLDS[name](events)
    after_events, chosen = with_erasures(events, random.Random(seed), share, at_end=True)
    after = FOLDS[name](after_events, cuts)
    assert totals(after.tables) == totals(before.tables)
    assert _ids(after.rejected) == _ids(before.rejected)
    table = compare.PROJECTION_TABLES[name][0]
    key = compare.TABLE_KEYS[table][0]
    for rows in after.tables.values():
        for row in rows.values():
            assert row[key] not in chosen
            if name != "backlog":  # an application may name an erased case that is not its client's
                assert not any(k in str(v) for k in chosen for v in row.values()), "an erased id survived"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(FOLDS)),
    seed=st.integers(0, 10_000),
    cases=st.integers(1, 20),
    applications=st.integers(0, 12),
    cuts=st.lists(st.integers(0, 1000), max_size=10),
)
def test_erasures_anywhere_give_the_oracles_rows_and_rejections_in_any_batching(
    name: str, seed: int, cases: int, applications: int, cuts: list[int]
) -> None:
    events = compare.as_events(generate(seed, cases, applications), seed=seed)
    events, _ = with_erasures(events, random.Random(seed + 1), 0.5, at_end=False)
    expected = compare.oracle(events)
    whole, split = FOLDS[name](events), FOLDS[name](events, cuts)
    assert split.tables == whole.tables
    assert _ids(split.rejected) == _ids(whole.rejected) == _ids(expected.rejected[name])
    compare.assert_same(whole.tables, {t: expected.tables[t] for t in compare.PROJECTION_TABLES[name]})


def _ids(events: list[Event]) -> list[str]:
    return sorted(str(e.envelope["event_id"]) for e in events)


# --- the receipt -----------------------------------------------------------------------------------


def test_erasure_events_name_each_case_and_application_once() -> None:
    events = erasure_events(["DO-2", "DO-1"], ["ABH-1"], "ER-1")
    assert events == [
        ("CaseErased", {"case_id": "DO-1", "erasure_id": "ER-1"}),
        ("CaseErased", {"case_id": "DO-2", "erasure_id": "ER-1"}),
        ("ApplicationErased", {"application_id": "ABH-1", "erasure_id": "ER-1"}),
    ]


def test_the_erased_pseudonym_is_remembered_only_as_a_peppered_digest() -> None:
    one, other = digest(b"pepper-1", "P-abcdef"), digest(b"pepper-2", "P-abcdef")
    assert one != other and b"P-abcdef" not in one and len(one) == 32


def test_the_receipt_says_what_was_removed_when_and_by_whom() -> None:
    receipt = Receipt(
        "ER-1",
        "alice@host",
        T0,
        "k-1",
        2,
        1,
        {"caseload": {"caseload_cases": 2}},
        [{"event_type": "CaseErased", "topic": "kim.cases", "partition": 3, "offset": 41}],
        applied=["caseload"],
        pending=["backlog"],
    )
    text = render(receipt)
    assert "erasure ER-1 by alice@host at 2025-01-06T09:00:00+00:00" in text
    assert "cases: 2, applications: 1" in text and "caseload_cases 2" in text
    assert "published CaseErased at kim.cases[3]@41" in text
    assert "not yet applied by: backlog" in text
    for place in ("key caches", "idempotency keys (gateway_idempotency)", "dead letters (kim.dlq)", "copies of"):
        assert f"  {place}" in text, place  # every place the erasure looked is named
    assert receipt.details()["events"] == receipt.events and "P-" not in str(receipt.details())
