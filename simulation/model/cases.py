"""The case and its lifecycle (building block 2): a client arrives by Stadtbezirk, a partner or the KIM opens the
case, the client signs the intake consent and waits for a case manager; the needs are assessed and goals agreed
(the most pressing needs first), each goal worked on until achieved or abandoned. Meanwhile a case may pause and
resume, lose its consent, end early (moved away, no contact, withdrew) or move to another case-management agency
for a second phase; it ends when the goals are resolved — handed over into a Regelsystem or with the goals
achieved (or not).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import simulation.parameters as P
from schemas import load_catalog
from simulation.calendar import HOUR
from simulation.engine import Process
from simulation.model.caseload import Caseload
from simulation.model.consent import Consents
from simulation.model.context import Context, Weighted
from simulation.model.needs import choose_goals, reassess, rechtskreise, sample_needs
from simulation.model.records import ACTIVE, CLOSED, Case
from simulation.model.referrals import Referrals


def _payload_fields(event_type: str) -> set[str]:
    """The payload fields of the current schema version of ``event_type``."""
    message = load_catalog().current(event_type).schema
    payload = next(f["type"] for f in message["fields"] if f["name"] == "payload")
    return {f["name"] for f in payload["fields"]}


class Cases:
    """Every case's process: opening, intake, the phases of needs and goals, pauses, early endings and the end."""

    def __init__(self, ctx: Context, caseload: Caseload, consents: Consents, referrals: Referrals) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.rng = ctx.rng
        self.cal = ctx.cal
        self.engine = ctx.engine
        self.caseload = caseload
        self.consents = consents
        self.referrals = referrals
        self.cases_opened = 0
        self._districts = {
            group: Weighted(
                {
                    d: pop * P.FOREIGN_SHARE[d] * (P.NEWCOMER_ARRIVAL_FACTOR.get(d, 1.0) if group == "NEWCOMER" else 1)
                    for d, pop in P.DISTRICT_POPULATION.items()
                }
            )
            for group in ("NEWCOMER", "LONG_RESIDENT")
        }
        self._openers = Weighted(P.CASE_OPENERS)
        self._pause_reasons = Weighted(P.PAUSE_REASONS)
        self._abandon_reasons = Weighted(P.GOAL_ABANDON_REASONS)
        self._early = Weighted(P.EARLY_ENDINGS)
        self._access_routes = {opener: Weighted(w) for opener, w in P.ACCESS_ROUTES.items()}
        self._unachieved = Weighted(P.CLOSURE_WITHOUT_ACHIEVEMENT)
        self.pools = caseload.pools
        self._pool_choice = Weighted({agency: pool.slots for agency, pool in self.pools.items() if pool.slots})
        self._pause_v2 = "expected_resume_on" in _payload_fields("CasePaused")

    def new_case(self, t: int) -> bool:
        """A client arrives at ``t``: the case opens in office hours; False once ``max_cases`` are open."""
        c, rng = self.config, self.rng
        if c.max_cases is not None and self.cases_opened >= c.max_cases:
            return False
        self.cases_opened += 1
        self.engine.spawn(self._case(), at=self.cal.office(t, rng))
        return True

    def _returning(self, earlier: Case) -> Process:
        """The client of a case that ended well comes back with a new case (the same pseudonym and target group)."""
        c = self.config
        yield self.engine.now
        if c.max_cases is not None and self.cases_opened >= c.max_cases:
            return
        self.cases_opened += 1
        yield from self._case(earlier.client_ref, earlier.target_group)

    def _case(self, client_ref: str | None = None, group: str | None = None) -> Process:
        """One case from opening to closing (the case's main process); a returning client's if ``client_ref``."""
        e, rng, cal = self.engine, self.rng, self.cal
        if group is None:
            group = "NEWCOMER" if rng.random() < P.NEWCOMER_SHARE else "LONG_RESIDENT"
        case = Case(self.ctx.next_number("DO"), client_ref or self.ctx.pseudonym(), group)
        opener = self._openers(rng)
        case.needs = sample_needs(self.ctx, group)
        case.urgent = any(p == "URGENT" for _, p in case.needs)
        case.rechtskreise = rechtskreise(self.ctx, case, opener)
        own = opener in self.pools and self.pools[opener].slots
        home = opener if own and self.ctx.chance("opener_keeps_case") else None
        case.home = home or self._pool_choice(rng)
        case.pool = self.pools[case.home]
        case.holder = opener
        route = self._access_routes.get(opener, self._access_routes["partner"])(rng)
        e.emit(
            opener,
            "CaseOpened",
            {
                "case_id": case.case_id,
                "client_ref": case.client_ref,
                "district": self._districts[group](rng),
                "access_route": route,
                "target_group": group,
                "rechtskreise": case.rechtskreise,
            },
        )
        yield self.ctx.office_after("intake")
        self.consents.grant(case, self.consents.intake_recipients(case, opener), by=opener)  # the holder records it
        yield cal.office(e.now + rng.randrange(10 * 60, 2 * HOUR), rng)  # onto the waiting list
        case.main = e.current
        if not (yield from self.caseload.get_manager(case, patience=True)):
            return
        c = self.config
        if rng.random() < sum(P.EARLY_ENDINGS.values()):
            e.spawn(self._early_end(case, self._early(rng)), at=self.ctx.office_after("early_ending"))
        if rng.random() < c.pause_share:
            e.spawn(self._pause(case), at=self.ctx.office_after("pause"))
        if rng.random() < c.consent_withdrawal_share:
            e.spawn(self.consents.withdraw(case), at=self.ctx.office_after("consent_withdrawal"))
        if rng.random() < c.manager_change_share:
            e.spawn(self.caseload.change_manager(case), at=self.ctx.office_after("manager_change"))
        phase = 1
        while True:
            if not (yield from self.caseload.act(case, self.ctx.office_after("assessment"))):
                return
            if phase > 1:
                case.needs = reassess(self.ctx, case)
            e.emit(
                case.home,
                "NeedsAssessed",
                {"case_id": case.case_id, "needs": [{"lebenslage": s, "priority": p} for s, p in case.needs]},
            )
            goals = choose_goals(self.ctx, case.needs)
            case.open_goals = len(goals)
            for i, (lebenslage, _) in enumerate(goals):
                stagger = 60 * (i + 1) + (self.ctx.days(*P.DAYS["goal_stagger"]) if i else 0)
                e.spawn(self._goal(case, lebenslage), at=self.cal.office(e.now + stagger, rng))
            yield None  # woken when the last goal is achieved or abandoned
            if not (yield from self.caseload.act(case, self.ctx.office_after("wrap_up"))):
                return
            if phase == 1 and rng.random() < c.transfer_share and (yield from self._transfer(case)):
                phase += 1
                continue
            if case.state == CLOSED:
                return
            yield from self._finish(case)
            return

    def _goal(self, case: Case, lebenslage: str) -> Process:
        """A goal agreed for ``lebenslage``, worked on and resolved; the last one resolved wakes the case."""
        e, rng, c = self.engine, self.rng, self.config
        if not (yield from self.caseload.act(case, e.now)):
            return
        goal_id = case.next_id("G")
        lo, hi = P.GOAL_DAYS[lebenslage]
        e.emit(
            case.home,
            "GoalAgreed",
            {
                "case_id": case.case_id,
                "goal_id": goal_id,
                "lebenslage": lebenslage,
                "target_date": self.ctx.today() + timedelta(days=rng.randint(lo, hi)),
            },
        )
        achieved, reason = yield from self.referrals.pursue(case, lebenslage)
        if case.state == CLOSED or not (yield from self.caseload.act(case, self.ctx.office_after("goal_resolution"))):
            return
        if achieved:
            e.emit(case.home, "GoalAchieved", {"case_id": case.case_id, "goal_id": goal_id})
            case.achieved += 1
        else:
            replaced = rng.random() < c.goal_replaced_share
            reason = "REPLACED_BY_NEW_GOAL" if replaced else reason or self._abandon_reasons(rng)
            e.emit(case.home, "GoalAbandoned", {"case_id": case.case_id, "goal_id": goal_id, "reason": reason})
            if replaced:
                case.open_goals += 1
                e.spawn(self._goal(case, lebenslage), at=self.cal.office(e.now + 120, rng))
        case.open_goals -= 1
        if case.open_goals == 0:
            e.wake(case.main)

    def _pause(self, case: Case) -> Process:
        """The case rests for a while, then resumes (or, after no contact, may close)."""
        e, rng = self.engine, self.rng
        yield e.now
        if case.state != ACTIVE or case.paused:
            return
        reason = self._pause_reasons(rng)
        planned = rng.randint(*(int(d) for d in P.DAYS["pause_length"]))
        today = self.ctx.today()
        payload: dict[str, Any] = {"case_id": case.case_id, "reason": reason}
        if self._pause_v2:  # resume_by is the review date (Wiedervorlage), expected_resume_on the foreseen end
            review = rng.choice((14, 28, 42))
            no_review = self.ctx.chance("pause_without_review_date")
            payload["resume_by"] = None if no_review else today + timedelta(days=min(review, planned))
            foreseen = reason in P.FORESEEABLE_PAUSES
            payload["expected_resume_on"] = today + timedelta(days=planned) if foreseen else None
        else:
            no_review = self.ctx.chance("pause_without_review_date")
            payload["resume_by"] = None if no_review else today + timedelta(days=planned)
        e.emit(case.home, "CasePaused", payload)
        case.paused = True
        yield self.ctx.office_in(planned * 0.6, planned * 1.4)
        if case.state == CLOSED:
            return
        if reason == "NO_CONTACT" and self.ctx.chance("no_contact_pause_closes"):
            self.caseload.close(case, "NO_CONTACT")
            return
        e.emit(case.home, "CaseResumed", {"case_id": case.case_id})
        case.paused = False
        waiters, case.resume_waiters = case.resume_waiters, []
        for process in waiters:
            e.wake(process, at=e.now + 60)

    def _early_end(self, case: Case, reason: str) -> Process:
        """The case ends before its goals are resolved (moved away, no contact, withdrew)."""
        yield self.engine.now
        if case.state == ACTIVE:
            self.caseload.close(case, reason)

    def _transfer(self, case: Case) -> Process:
        """Hand the case to another case-management agency for a second phase; False if that is not possible."""
        e, rng = self.engine, self.rng
        others = {a: p.slots for a, p in self.pools.items() if a != case.home and p.slots}
        if not others:
            return False
        target = Weighted(others)(rng)
        consent = yield from self.consents.consent_for(case, target)
        if consent is None or case.state == CLOSED:
            return False
        e.emit(
            case.home,
            "CaseHandedOver",
            {"case_id": case.case_id, "from_agency": case.home, "to_agency": target, "consent_id": consent.consent_id},
        )
        self.caseload.release(case)
        case.home = case.holder = target
        case.pool = self.pools[target]
        case.main = e.current
        yield from self.caseload.get_manager(case, patience=False)
        return True

    def _finish(self, case: Case) -> Process:
        """The goals are resolved: hand the case over into its Regelsystem, or close it."""
        e, rng = self.engine, self.rng
        regelsystem = self.consents.regelsystem(case)
        if regelsystem and rng.random() < self.config.handover_share:
            consent = yield from self.consents.consent_for(case, regelsystem)
            if case.state == CLOSED:
                return
            if consent is not None:
                e.emit(
                    case.home,
                    "CaseHandedOver",
                    {
                        "case_id": case.case_id,
                        "from_agency": case.home,
                        "to_agency": regelsystem,
                        "consent_id": consent.consent_id,
                    },
                )
                self.caseload.close(case, "HANDED_OVER_TO_REGELSYSTEM")
                self._may_return(case)
                return
        if case.achieved:
            self.caseload.close(case, "GOALS_ACHIEVED")
            self._may_return(case)
        else:
            self.caseload.close(case, self._unachieved(rng))

    def _may_return(self, case: Case) -> None:
        if self.ctx.chance("returns_after_success"):
            self.engine.spawn(self._returning(case), at=self.ctx.office_after("return_after"))
