"""Referrals to the partner agencies: a goal is worked on directly or by a referral to the agency responsible for
its Lebenslage (for a residence goal: an application at the office). The receiving agency accepts and completes
the referral, declines it, or never answers — then the alternative agency is tried once; some partners pass
work on with a follow-up referral of their own, only under a consent that already covers the next agency.
"""

from __future__ import annotations

from datetime import timedelta

import simulation.parameters as P
from simulation.calendar import DAY
from simulation.engine import Process
from simulation.model.caseload import Caseload
from simulation.model.consent import Consents
from simulation.model.context import Context, Weighted
from simulation.model.offices import OFFICES, Offices
from simulation.model.records import CLOSED, Case, Consent


class Referrals:
    """The work on a goal: referrals, the receiving agencies' answers and their follow-up referrals."""

    def __init__(self, ctx: Context, caseload: Caseload, consents: Consents, offices: Offices) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.rng = ctx.rng
        self.cal = ctx.cal
        self.engine = ctx.engine
        self.caseload = caseload
        self.consents = consents
        self.offices = offices
        self._decline_reasons = Weighted(P.REFERRAL_DECLINE_REASONS)
        self._outcomes = Weighted(P.REFERRAL_OUTCOMES)
        self._case_procedures = {g: Weighted(w) for g, w in P.CASE_PROCEDURES.items()}

    def pursue(self, case: Case, lebenslage: str) -> Process:
        """Work on one need: returns (achieved, abandon reason or None)."""
        rng = self.rng
        primary, alternative = P.REFERRAL_ROUTES[lebenslage]
        procedure = None
        if lebenslage == "RESIDENCE_LAW":
            procedure = self._case_procedures[case.target_group](rng)
            if procedure == "AUFENTHG_104C" and self.ctx.today() > P.CHANCEN_LAST_DAY:
                procedure = "AUFENTHG_25B"
            primary = P.OFFICE_OF.get(procedure, P.IMMIGRATION_OFFICE)
        targets = [a for a in (primary, alternative) if a and a != case.home]
        if not targets or rng.random() < P.DIRECT_WORK_SHARE:
            lo, hi = P.REFERRAL_WORK_DAYS[lebenslage]
            yield self.ctx.office_in(lo, hi)
            return self.ctx.chance("direct_work_achieved"), None
        for target in targets:
            if not (yield from self.caseload.act(case, self.ctx.office_after("before_referral"))):
                return False, None
            consent = yield from self.consents.consent_for(case, target)
            if case.state == CLOSED:
                return False, None
            if consent is None:
                return False, "CLIENT_DECLINED"
            outcome = yield from self._referral(case, case.home, target, lebenslage, consent, procedure)
            if outcome is None:
                return False, None
            if outcome == "NEED_MET":
                return True, None
            if outcome == "NEED_PARTLY_MET":
                return (True, None) if self.ctx.chance("partly_met_achieved") else (False, "NOT_ACHIEVABLE")
            if outcome == "CLIENT_DROPPED_OUT":
                return False, "CLIENT_DECLINED"
            procedure = None  # the alternative is counselling, not another application
        return False, None

    def _referral(
        self, case: Case, source: str, target: str, lebenslage: str, consent: Consent, procedure: str | None = None
    ) -> Process:
        """Issue a referral and play the receiving agency; returns the outcome, 'DECLINED', 'STALE' or None."""
        e, rng, c = self.engine, self.rng, self.config
        referral_id = case.next_id("R")
        urgent = any(p == "URGENT" for s, p in case.needs if s == lebenslage)
        due_days = P.REFERRAL_DUE_DAYS["URGENT" if urgent else "default"]
        due_by = self.ctx.today() + timedelta(days=due_days)
        e.emit(
            source,
            "ReferralIssued",
            {
                "case_id": case.case_id,
                "referral_id": referral_id,
                "from_agency": source,
                "to_agency": target,
                "lebenslage": lebenslage,
                "due_by": due_by,
                "consent_id": consent.consent_id,
            },
        )
        due = (e.now // DAY + due_days) * DAY
        u = rng.random()
        if u < c.referral_stale_share:  # never answered: the referring agency gives up some time after due_by
            yield self.cal.office(due + self.ctx.days(*P.DAYS["unanswered_given_up"]), rng)
            return None if case.state == CLOSED else "STALE"
        if rng.random() < c.referral_overdue_share:
            yield self.cal.office(due + self.ctx.days(*P.DAYS["overdue_by"]), rng)
        else:
            lo, hi = P.DAYS["answer"]
            yield self.ctx.office_in(lo, min(hi, due_days - 1))
        if case.state == CLOSED:
            return None
        ids = {"case_id": case.case_id, "referral_id": referral_id}
        if u < c.referral_stale_share + c.referral_decline_share:
            e.emit(target, "ReferralDeclined", {**ids, "reason": self._decline_reasons(rng)})
            return "DECLINED"
        e.emit(target, "ReferralAccepted", dict(ids))
        follow = P.FOLLOW_UP_REFERRALS.get(target)
        if follow and rng.random() < follow[2]:
            e.spawn(self._follow_up(case, target, follow[0], follow[1]), at=self.ctx.office_after("follow_up"))
        if procedure is not None and target in OFFICES:
            application = self.offices.file(procedure, case.client_ref, case, target)
            application.waiter = e.current
            yield None  # woken when the application is decided, withdrawn or refused
            yield self.ctx.office_after("office_to_referral")
            if case.state == CLOSED:
                return None
            outcome = application.done
            outcome = {"GRANTED": "NEED_MET", "REFUSED": "NEED_NOT_MET"}.get(outcome, "CLIENT_DROPPED_OUT")
        else:
            lo, hi = P.REFERRAL_WORK_DAYS[lebenslage]
            yield self.ctx.office_in(lo, hi)
            if case.state == CLOSED:
                return None
            outcome = self._outcomes(rng)
        e.emit(target, "ReferralCompleted", {**ids, "outcome": outcome})
        return outcome

    def _follow_up(self, case: Case, source: str, target: str, lebenslage: str) -> Process:
        """A receiving agency passes part of the work on; only under a consent that already covers it."""
        yield self.engine.now
        if case.state == CLOSED or case.consent_gap:
            return
        consent = self.consents.valid(case, target)
        if consent is not None and target != source:
            yield from self._referral(case, source, target, lebenslage, consent)
