"""Who may publish which event type, relative to the case or application it is about: part of the contract.

Partners read it (the gateway's OpenAPI document, the AsyncAPI document, docs/partners.md); the platform enforces
it at every door (``projections/authority.py`` applies it in the folds and in the case gate). Plain data, no I/O.
"""

from __future__ import annotations

CASE_MANAGEMENT = frozenset(
    {"KIM_CASE_MANAGEMENT", "MIGRATIONSBERATUNG_MBE", "JUGENDMIGRATIONSDIENST", "JOBCENTER"}
)  # the agencies with case managers of their own, who take cases into case management

HOLDER_OR_MANAGER = "the agency holding the case or its case manager's agency"
WHO: dict[str, str] = {
    "CaseOpened": "any agency (it then holds the case)",
    "CaseManagerAssigned": f"{HOLDER_OR_MANAGER}, or a case-management agency assigning its own case manager to a "
    "case that has none",
    "ConsentGranted": HOLDER_OR_MANAGER,
    "ConsentWithdrawn": HOLDER_OR_MANAGER,
    "NeedsAssessed": HOLDER_OR_MANAGER,
    "GoalAgreed": HOLDER_OR_MANAGER,
    "GoalAchieved": HOLDER_OR_MANAGER,
    "GoalAbandoned": HOLDER_OR_MANAGER,
    "ReferralIssued": f"{HOLDER_OR_MANAGER}, or an agency that accepted a referral of the case",
    "ReferralAccepted": "the agency the referral was sent to",
    "ReferralDeclined": "the agency the referral was sent to",
    "ReferralCompleted": "the agency the referral was sent to",
    "CaseHandedOver": HOLDER_OR_MANAGER,
    "CasePaused": HOLDER_OR_MANAGER,
    "CaseResumed": HOLDER_OR_MANAGER,
    "CaseClosed": HOLDER_OR_MANAGER,
    "ApplicationFiled": "the Ausländerbehörde or the Einbürgerungsbehörde (it then holds the application)",
    "DocumentsRequested": "the office that filed the application",
    "DocumentsReceived": "the office that filed the application",
    "ApplicationCompleted": "the office that filed the application",
    "AppointmentScheduled": "the office that filed the application",
    "DecisionIssued": "the office that filed the application",
    "PermitHandedOver": "the office that filed the application",
    "ApplicationWithdrawn": "the office that filed the application",
    "CaseErased": "the platform (kim erase)",
    "ApplicationErased": "the platform (kim erase)",
}
