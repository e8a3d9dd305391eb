"""Consent: the client signs one at intake for the agencies the case will need; a referral or a hand-over needs a
consent that covers the receiving agency and is neither withdrawn nor expired, else a further one is asked for
first (which the client may refuse). A client who withdraws consent leaves case management or signs a narrower one.
"""

from __future__ import annotations

from datetime import timedelta

import simulation.parameters as P
from simulation.engine import Process
from simulation.model.caseload import Caseload
from simulation.model.context import Context, Weighted, ordered
from simulation.model.records import ACTIVE, CLOSED, Case, Consent

# The order in which a consent lists its recipients and its data categories.
AGENCY_ORDER = (
    "KIM_CASE_MANAGEMENT",
    "KOMMUNALES_INTEGRATIONSZENTRUM",
    "AUSLAENDERBEHOERDE",
    "EINBUERGERUNGSBEHOERDE",
    "JOBCENTER",
    "AGENTUR_FUER_ARBEIT",
    "JUGENDAMT",
    "SOZIALAMT",
    "WOHNUNGSAMT",
    "MIGRATIONSBERATUNG_MBE",
    "JUGENDMIGRATIONSDIENST",
    "INTEGRATIONSKURSTRAEGER",
    "GESUNDHEITSAMT",
    "SCHULAMT",
    "FAMILIENKASSE",
    "OTHER",
)
CATEGORY_ORDER = (
    "IDENTITY_AND_CONTACT",
    "RESIDENCE_STATUS",
    "BENEFITS",
    "LANGUAGE_SKILLS",
    "EDUCATION_AND_QUALIFICATIONS",
    "EMPLOYMENT",
    "HOUSING",
    "HEALTH",
    "FAMILY",
    "CASE_PLAN",
)


class Consents:
    """The consents of every case: granted, looked up, asked for and withdrawn."""

    def __init__(self, ctx: Context, caseload: Caseload) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.rng = ctx.rng
        self.engine = ctx.engine
        self.caseload = caseload
        self._validity = Weighted(P.CONSENT_VALIDITY_DAYS)

    def regelsystem(self, case: Case) -> str | None:
        """The agency of the first of the case's Rechtskreise that has one (other than the case's own), if any."""
        for kind in case.rechtskreise:
            agency = P.REGELSYSTEM.get(kind)
            if agency and agency != case.home:
                return agency
        return None

    def intake_recipients(self, case: Case, opener: str) -> list[str]:
        """Who the intake consent covers: the opener and the case-management agency taking the case (but not the
        opener when it takes the case itself), the agencies the needs and Rechtskreise point to — at times with one
        of them left out, never the taking agency (a gap a further consent fills later)."""
        wanted = [opener, case.home]
        for lebenslage, _ in case.needs:
            wanted.append(P.REFERRAL_ROUTES[lebenslage][0])
        if "AUFENTHG" in case.rechtskreise:
            wanted.append(P.IMMIGRATION_OFFICE)
        if "STAG" in case.rechtskreise:
            wanted.append(P.NATURALISATION_OFFICE)
        regelsystem = self.regelsystem(case)
        if regelsystem:
            wanted.append(regelsystem)
        recipients = [a for a in ordered(wanted, AGENCY_ORDER) if a != case.home or opener != case.home]
        gaps = [i for i, agency in enumerate(recipients) if agency != case.home]
        if len(gaps) > 1 and self.rng.random() < self.config.intake_consent_gap_share:
            recipients.pop(gaps[self.rng.randrange(len(gaps))])
        return recipients or ["KOMMUNALES_INTEGRATIONSZENTRUM"]

    def grant(self, case: Case, recipients: list[str], by: str | None = None) -> Consent:
        """The client signs a consent for ``recipients`` covering the data the case's needs call for, recorded by
        ``by`` (default: the case-management agency working the case)."""
        categories = ["IDENTITY_AND_CONTACT", "CASE_PLAN"]
        for lebenslage, _ in case.needs:
            categories.extend(P.DATA_CATEGORIES[lebenslage])
        days = self._validity(self.rng)
        valid_until = None if days is None else self.ctx.today() + timedelta(days=days)
        consent = Consent(case.next_id("C"), ordered(recipients, AGENCY_ORDER), valid_until)
        case.consents.append(consent)
        self.engine.emit(
            by or case.home,
            "ConsentGranted",
            {
                "case_id": case.case_id,
                "consent_id": consent.consent_id,
                "recipients": list(consent.recipients),
                "data_categories": ordered(categories, CATEGORY_ORDER),
                "valid_until": valid_until,
            },
        )
        return consent

    def valid(self, case: Case, agency: str) -> Consent | None:
        """The latest consent in force today that covers ``agency``, if any."""
        today = self.ctx.today()
        for consent in reversed(case.consents):
            if (
                not consent.withdrawn
                and (consent.valid_until is None or consent.valid_until >= today)
                and agency in consent.recipients
            ):
                return consent
        return None

    def consent_for(self, case: Case, agency: str) -> Process:
        """A consent covering ``agency`` now — an existing one, or a further one the client signs; None if not."""
        while case.consent_gap and case.state != CLOSED:
            case.consent_waiters.append(self.engine.current)
            yield None
        if case.state == CLOSED:
            return None
        consent = self.valid(case, agency)
        if consent is not None:
            return consent
        if case.narrowed or self.rng.random() < self.config.supplementary_consent_refusal:
            return None
        today = self.ctx.today()
        current = [c for c in case.consents if not c.withdrawn and (c.valid_until is None or c.valid_until >= today)]
        if current:  # a supplementary consent for the one agency
            return self.grant(case, [agency])
        last = case.consents[-1].recipients if case.consents else []  # renewal of an expired consent
        return self.grant(case, [*last, agency])

    def withdraw(self, case: Case) -> Process:
        """The client withdraws every consent in force, then leaves or signs a narrower one; processes that
        waited for a consent meanwhile continue."""
        e, rng = self.engine, self.rng
        yield e.now
        today = self.ctx.today()
        current = [c for c in case.consents if not c.withdrawn and (c.valid_until is None or c.valid_until >= today)]
        if case.state != ACTIVE or not current:
            return
        for consent in current:
            consent.withdrawn = True
            e.emit(case.home, "ConsentWithdrawn", {"case_id": case.case_id, "consent_id": consent.consent_id})
        case.consent_gap = True
        if rng.random() < self.config.withdrawal_closes_share:
            yield self.ctx.office_after("withdrawal_to_closure")
            if case.state != CLOSED:
                self.caseload.close(case, "CLIENT_WITHDREW")
            return
        yield self.ctx.office_after("withdrawal_to_new_consent")
        if case.state == CLOSED:
            return
        previous = current[-1].recipients
        kept = [a for a in previous if self.ctx.chance("recipient_kept_when_narrowed")] or [rng.choice(previous)]
        self.grant(case, kept)
        case.narrowed = True
        case.consent_gap = False
        waiters, case.consent_waiters = case.consent_waiters, []
        for process in waiters:
            e.wake(process)
