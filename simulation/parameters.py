"""Every rate, share and duration of the Dortmund simulation, with where it comes from.

Sources: the published figures listed in docs/domain.md ("Published figures behind the simulation"),
cited as [published]. Everything else is marked *assumed*: a plausible value for a city of
Dortmund's size, chosen so the projections have something realistic to show (waiting lists,
a seasonal backlog), not a measurement. Scalar knobs are fields of ``SimulationConfig``
(override any of them); the categorical mixes are the module constants below.

``scale`` multiplies every inflow and every capacity together (1.0 = all of Dortmund), so a
scaled-down city keeps the same load per case manager and per clerk, hence the same waiting
times and backlog shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# --- Population -------------------------------------------------------------------------------

DORTMUND_POPULATION = 612_065  # main residence [DOMAIN: Dortmunder Statistik, "Bevölkerungsstand"]

# Population by Stadtbezirk. Published [published]: Innenstadt-Nord (the largest), Innenstadt-Ost,
# Hombruch, Huckarde (the smallest); Eving and Mengede "under 40,000". The other values are assumed,
# chosen so the twelve add up to the published total.
DISTRICT_POPULATION: dict[str, int] = {
    "INNENSTADT_WEST": 54_500,  # assumed
    "INNENSTADT_NORD": 61_065,  # [published]
    "INNENSTADT_OST": 58_520,  # [published]
    "EVING": 39_500,  # assumed (published: under 40,000)
    "SCHARNHORST": 45_500,  # assumed
    "BRACKEL": 56_500,  # assumed
    "APLERBECK": 56_800,  # assumed
    "HOERDE": 57_000,  # assumed
    "HOMBRUCH": 57_380,  # [published]
    "LUETGENDORTMUND": 49_200,  # assumed
    "HUCKARDE": 36_565,  # [published]
    "MENGEDE": 39_535,  # assumed (published: under 40,000)
}
assert sum(DISTRICT_POPULATION.values()) == DORTMUND_POPULATION

# Share of residents with a foreign passport. [published]: about 15 % city-wide (older count); around
# the Nordmarkt in Innenstadt-Nord more than half. Per district: assumed, weighted mean ≈ 17 %.
FOREIGN_SHARE: dict[str, float] = {
    "INNENSTADT_WEST": 0.20,
    "INNENSTADT_NORD": 0.45,
    "INNENSTADT_OST": 0.14,
    "EVING": 0.21,
    "SCHARNHORST": 0.19,
    "BRACKEL": 0.11,
    "APLERBECK": 0.08,
    "HOERDE": 0.12,
    "HOMBRUCH": 0.09,
    "LUETGENDORTMUND": 0.12,
    "HUCKARDE": 0.16,
    "MENGEDE": 0.13,
}
NEWCOMER_ARRIVAL_FACTOR: dict[str, float] = {"INNENSTADT_NORD": 2.0}  # the arrival district (assumed factor)

# --- Case management (building block 2) -------------------------------------------------------

# [published] Kreis Coesfeld (2023): 12 case-management posts, 2 posts in the immigration and
# naturalisation offices. Scaled to Dortmund by population; Coesfeld's population (~225,000) is
# assumed (it is not among the published figures). 12 × 612,065 / 225,000 ≈ 32.6 posts.
COESFELD_POPULATION = 225_000  # assumed
COESFELD_CASE_MANAGEMENT_POSTS = 12.0  # [published]
COESFELD_OFFICE_POSTS = 2.0  # [published] building block 3
CASE_MANAGEMENT_POSTS = COESFELD_CASE_MANAGEMENT_POSTS * DORTMUND_POPULATION / COESFELD_POPULATION
KIM_OFFICE_POSTS = COESFELD_OFFICE_POSTS * DORTMUND_POPULATION / COESFELD_POPULATION  # ≈ 5.4

# Which agencies employ the case managers (share of posts; assumed: most at the city's KIM team,
# the rest at migration counselling, the youth migration service and the Jobcenter).
CASE_MANAGER_EMPLOYERS: dict[str, float] = {
    "KIM_CASE_MANAGEMENT": 0.60,
    "MIGRATIONSBERATUNG_MBE": 0.20,
    "JUGENDMIGRATIONSDIENST": 0.12,
    "JOBCENTER": 0.08,
}
CASE_MANAGER_REF_PREFIX: dict[str, str] = {
    "KIM_CASE_MANAGEMENT": "CM-DO",
    "MIGRATIONSBERATUNG_MBE": "CM-MBE",
    "JUGENDMIGRATIONSDIENST": "CM-JMD",
    "JOBCENTER": "CM-JC",
}

# Who opens a case (assumed shares; partners refer their clients into case management).
CASE_OPENERS: dict[str, float] = {
    "KIM_CASE_MANAGEMENT": 38,
    "JOBCENTER": 15,
    "MIGRATIONSBERATUNG_MBE": 12,
    "JUGENDMIGRATIONSDIENST": 8,
    "AUSLAENDERBEHOERDE": 8,
    "JUGENDAMT": 7,
    "SOZIALAMT": 6,
    "INTEGRATIONSKURSTRAEGER": 4,
    "KOMMUNALES_INTEGRATIONSZENTRUM": 2,
}
NEWCOMER_SHARE = 0.55  # assumed: initial integration vs long-resident

# Lebenslagen a client needs help with, by target group: (weight to be present, P(urgent), P(high)). Assumed.
NEEDS: dict[str, dict[str, tuple[float, float, float]]] = {
    "NEWCOMER": {
        "FIRST_ORIENTATION": (0.65, 0.10, 0.45),
        "LANGUAGE": (0.70, 0.05, 0.55),
        "RESIDENCE_LAW": (0.45, 0.30, 0.40),
        "HOUSING": (0.35, 0.25, 0.35),
        "LIVELIHOOD": (0.40, 0.25, 0.35),
        "WORK": (0.30, 0.02, 0.30),
        "EDUCATION": (0.20, 0.05, 0.35),
        "HEALTH": (0.12, 0.20, 0.30),
        "FAMILY": (0.15, 0.10, 0.30),
        "SOCIAL_PARTICIPATION": (0.15, 0.00, 0.15),
    },
    "LONG_RESIDENT": {
        "RESIDENCE_LAW": (0.55, 0.25, 0.40),
        "WORK": (0.50, 0.03, 0.40),
        "LANGUAGE": (0.35, 0.02, 0.35),
        "LIVELIHOOD": (0.30, 0.20, 0.35),
        "EDUCATION": (0.20, 0.03, 0.30),
        "FAMILY": (0.20, 0.10, 0.30),
        "HOUSING": (0.20, 0.20, 0.30),
        "HEALTH": (0.12, 0.15, 0.30),
        "SOCIAL_PARTICIPATION": (0.12, 0.00, 0.15),
        "FIRST_ORIENTATION": (0.03, 0.00, 0.10),
    },
}
MAX_GOALS = 4  # goals agreed per assessment, most pressing needs first (assumed)

# Where a need is referred to: primary agency, then the alternative tried after a decline or no
# answer (assumed). None: the case manager works on it directly, no referral.
REFERRAL_ROUTES: dict[str, tuple[str, str | None]] = {
    "RESIDENCE_LAW": ("AUSLAENDERBEHOERDE", "MIGRATIONSBERATUNG_MBE"),
    "FIRST_ORIENTATION": ("MIGRATIONSBERATUNG_MBE", "KOMMUNALES_INTEGRATIONSZENTRUM"),
    "LANGUAGE": ("INTEGRATIONSKURSTRAEGER", "AGENTUR_FUER_ARBEIT"),
    "EDUCATION": ("SCHULAMT", "JUGENDMIGRATIONSDIENST"),
    "WORK": ("JOBCENTER", "AGENTUR_FUER_ARBEIT"),
    "LIVELIHOOD": ("JOBCENTER", "SOZIALAMT"),
    "HOUSING": ("WOHNUNGSAMT", "SOZIALAMT"),
    "HEALTH": ("GESUNDHEITSAMT", "SOZIALAMT"),  # Sozialamt: health care under the AsylbLG
    "FAMILY": ("JUGENDAMT", "FAMILIENKASSE"),
    "SOCIAL_PARTICIPATION": ("KOMMUNALES_INTEGRATIONSZENTRUM", None),
}
DIRECT_WORK_SHARE = 0.2  # share of goals the case manager pursues without a referral (assumed)

# Days from GoalAgreed to target_date, and days the receiving agency works on a referral (assumed).
GOAL_DAYS: dict[str, tuple[int, int]] = {
    "RESIDENCE_LAW": (180, 365),
    "FIRST_ORIENTATION": (30, 90),
    "LANGUAGE": (180, 360),
    "EDUCATION": (120, 300),
    "WORK": (120, 300),
    "LIVELIHOOD": (30, 120),
    "HOUSING": (90, 240),
    "HEALTH": (60, 180),
    "FAMILY": (60, 180),
    "SOCIAL_PARTICIPATION": (60, 150),
}
REFERRAL_WORK_DAYS: dict[str, tuple[int, int]] = {
    "RESIDENCE_LAW": (20, 60),  # counselling; the application itself runs through the office's backlog
    "FIRST_ORIENTATION": (14, 60),
    "LANGUAGE": (120, 270),  # an integration course takes months
    "EDUCATION": (60, 200),
    "WORK": (60, 200),
    "LIVELIHOOD": (14, 60),
    "HOUSING": (45, 180),
    "HEALTH": (30, 120),
    "FAMILY": (30, 150),
    "SOCIAL_PARTICIPATION": (30, 90),
}
REFERRAL_OUTCOMES: dict[str, float] = {  # assumed
    "NEED_MET": 0.62,
    "NEED_PARTLY_MET": 0.20,
    "NEED_NOT_MET": 0.10,
    "CLIENT_DROPPED_OUT": 0.08,
}
REFERRAL_DECLINE_REASONS: dict[str, float] = {  # assumed
    "NOT_RESPONSIBLE": 22,
    "REQUIREMENTS_NOT_MET": 18,
    "NO_CAPACITY": 28,
    "ALREADY_SUPPORTED": 10,
    "CONSENT_INSUFFICIENT": 4,
    "CLIENT_NOT_REACHED": 14,
    "OTHER": 4,
}
# A receiving agency passes part of the work on (from → to, Lebenslage, probability). Assumed.
FOLLOW_UP_REFERRALS: dict[str, tuple[str, str, float]] = {
    "JOBCENTER": ("INTEGRATIONSKURSTRAEGER", "LANGUAGE", 0.25),
    "AGENTUR_FUER_ARBEIT": ("INTEGRATIONSKURSTRAEGER", "LANGUAGE", 0.20),
    "SOZIALAMT": ("WOHNUNGSAMT", "HOUSING", 0.15),
    "JUGENDAMT": ("SCHULAMT", "EDUCATION", 0.15),
    "MIGRATIONSBERATUNG_MBE": ("INTEGRATIONSKURSTRAEGER", "LANGUAGE", 0.15),
}

# The Regelsystem a case is handed over into, by Rechtskreis (the first that applies).
REGELSYSTEM: dict[str, str] = {
    "SGB_II": "JOBCENTER",
    "SGB_VIII": "JUGENDAMT",
    "SGB_XII": "SOZIALAMT",
    "ASYLBLG": "SOZIALAMT",
    "SGB_III": "AGENTUR_FUER_ARBEIT",
}
AGENCY_RECHTSKREIS: dict[str, str] = {
    "JOBCENTER": "SGB_II",
    "AGENTUR_FUER_ARBEIT": "SGB_III",
    "JUGENDAMT": "SGB_VIII",
    "SOZIALAMT": "SGB_XII",
    "AUSLAENDERBEHOERDE": "AUFENTHG",
}

# Data categories a consent releases, by Lebenslage (always also identity/contact and the case plan).
DATA_CATEGORIES: dict[str, tuple[str, ...]] = {
    "RESIDENCE_LAW": ("RESIDENCE_STATUS",),
    "FIRST_ORIENTATION": (),
    "LANGUAGE": ("LANGUAGE_SKILLS",),
    "EDUCATION": ("EDUCATION_AND_QUALIFICATIONS",),
    "WORK": ("EMPLOYMENT", "EDUCATION_AND_QUALIFICATIONS"),
    "LIVELIHOOD": ("BENEFITS",),
    "HOUSING": ("HOUSING",),
    "HEALTH": ("HEALTH",),
    "FAMILY": ("FAMILY",),
    "SOCIAL_PARTICIPATION": (),
}
CONSENT_VALIDITY_DAYS: dict[int | None, float] = {365: 0.6, 730: 0.2, None: 0.2}  # assumed; None: open-ended

# Reasons whose end can be foreseen (a return date, a decision, a place): the pause names the expected day.
FORESEEABLE_PAUSES = ("CLIENT_AWAY", "WAITING_FOR_DECISION", "WAITING_FOR_PLACE")
PAUSE_REASONS: dict[str, float] = {  # assumed
    "CLIENT_REQUEST": 20,
    "CLIENT_AWAY": 20,
    "WAITING_FOR_DECISION": 25,
    "WAITING_FOR_PLACE": 20,
    "NO_CONTACT": 10,
    "OTHER": 5,
}
GOAL_ABANDON_REASONS: dict[str, float] = {  # assumed, when a goal is given up for no more specific reason
    "NOT_ACHIEVABLE": 40,
    "NO_LONGER_NEEDED": 30,
    "CLIENT_DECLINED": 15,
    "OTHER": 15,
}
# A case ends early (while being worked on): reason → share of all cases it ends (assumed).
EARLY_ENDINGS: dict[str, float] = {"MOVED_AWAY": 0.07, "NO_CONTACT": 0.08, "CLIENT_WITHDREW": 0.04}
# A client who gives up on the waiting list (assumed mix).
RENEGE_REASONS: dict[str, float] = {"NO_CONTACT": 60, "CLIENT_WITHDREW": 25, "MOVED_AWAY": 15}

ACCESS_ROUTES: dict[str, dict[str, float]] = {  # how the client came, by who opens the case (assumed)
    "KIM_CASE_MANAGEMENT": {"SELF": 45, "OUTREACH": 25, "REFERRAL": 30},
    "partner": {"REFERRAL": 85, "OUTREACH": 10, "SELF": 5},
}
# Legal domains involved at opening besides the opener's own: the chance of each, given what the case
# shows (assumed). A residence need always involves the AufenthG.
RECHTSKREIS_CHANCES: dict[str, float] = {
    "AUFENTHG if newcomer": 0.8,
    "AUFENTHG otherwise": 0.3,
    "SGB_II if work or livelihood need": 0.7,
    "ASYLBLG if newcomer": 0.3,
    "SGB_VIII if family or education need": 0.5,
    "SGB_III if work need": 0.25,
    "SGB_XII": 0.05,
    "STAG if long-resident": 0.1,
}
# Closure reasons of a case that reached none of its goals (assumed).
CLOSURE_WITHOUT_ACHIEVEMENT: dict[str, float] = {"NO_CONTACT": 50, "CLIENT_WITHDREW": 35, "MOVED_AWAY": 15}
REFERRAL_DUE_DAYS: dict[str, int] = {"URGENT": 14, "default": 28}  # due_by of a referral, by the need's priority

# --- Immigration and naturalisation offices (building block 3) ----------------------------------

IMMIGRATION_OFFICE = "AUSLAENDERBEHOERDE"
NATURALISATION_OFFICE = "EINBUERGERUNGSBEHOERDE"
OFFICE_OF: dict[str, str] = {"NATURALISATION": NATURALISATION_OFFICE}  # every other procedure: the ABH

# Applications per year at full scale, not counting those filed for KIM clients (assumed: the
# procedures the platform tracks, not every residence matter of the city).
APPLICATIONS_PER_YEAR: dict[str, float] = {
    "EXTENSION": 7_000,
    "SETTLEMENT_PERMIT": 2_200,
    "NATURALISATION": 3_800,
    "AUFENTHG_25A": 250,
    "AUFENTHG_25B": 350,
    "AUFENTHG_104C": 500,
    "TRAINING_TOLERATION": 180,
    "EMPLOYMENT_TOLERATION": 120,
}
# § 104c AufenthG (Chancen-Aufenthaltsrecht) is a time-limited rule; assumed: no new applications
# after this day.
CHANCEN_LAST_DAY = date(2025, 12, 31)
# The procedures the KIM posts at the offices work on first (building block 3 aims at § 25a/§ 25b and
# naturalisation [DOMAIN, Kreis Kleve]; § 104c as the bridge into § 25a/§ 25b), plus every
# application filed for a KIM client.
KIM_PRIORITY_PROCEDURES = ("AUFENTHG_25A", "AUFENTHG_25B", "AUFENTHG_104C", "NATURALISATION")

CHANNELS: dict[str, dict[str, float]] = {  # assumed
    "NATURALISATION": {"ONLINE": 55, "POST": 20, "IN_PERSON": 15, "EMAIL": 10},
    "EXTENSION": {"ONLINE": 40, "IN_PERSON": 35, "POST": 15, "EMAIL": 10},
    "default": {"IN_PERSON": 50, "POST": 25, "ONLINE": 15, "EMAIL": 10},
}
# Documents an office may ask for, per procedure (1 to 4 of them are requested; assumed).
DOCUMENTS: dict[str, tuple[str, ...]] = {
    "EXTENSION": ("PASSPORT", "BIOMETRIC_PHOTO", "PROOF_OF_INCOME", "HEALTH_INSURANCE", "RENTAL_CONTRACT"),
    "SETTLEMENT_PERMIT": (
        "PASSPORT",
        "PROOF_OF_INCOME",
        "PENSION_INSURANCE_RECORD",
        "LANGUAGE_CERTIFICATE",
        "CIVIC_KNOWLEDGE_CERTIFICATE",
        "RENTAL_CONTRACT",
    ),
    "NATURALISATION": (
        "PASSPORT",
        "BIRTH_OR_MARRIAGE_CERTIFICATE",
        "PROOF_OF_INCOME",
        "LANGUAGE_CERTIFICATE",
        "CIVIC_KNOWLEDGE_CERTIFICATE",
        "DECLARATION_OF_COMMITMENT",
        "REGISTRATION_CERTIFICATE",
    ),
    "AUFENTHG_25A": ("PASSPORT", "SCHOOL_CERTIFICATE", "TRAINING_CONTRACT", "REGISTRATION_CERTIFICATE"),
    "AUFENTHG_25B": ("PASSPORT", "PROOF_OF_INCOME", "LANGUAGE_CERTIFICATE", "EMPLOYMENT_CONTRACT", "RENTAL_CONTRACT"),
    "AUFENTHG_104C": ("PASSPORT", "REGISTRATION_CERTIFICATE", "OTHER"),
    "TRAINING_TOLERATION": ("PASSPORT", "TRAINING_CONTRACT", "SCHOOL_CERTIFICATE"),
    "EMPLOYMENT_TOLERATION": ("PASSPORT", "EMPLOYMENT_CONTRACT", "PROOF_OF_INCOME", "LANGUAGE_CERTIFICATE"),
}
DOCUMENTS_NEEDED: dict[str, float] = {  # P(the first review finds documents missing); assumed
    "EXTENSION": 0.45,
    "SETTLEMENT_PERMIT": 0.70,
    "NATURALISATION": 0.85,
    "AUFENTHG_25A": 0.75,
    "AUFENTHG_25B": 0.80,
    "AUFENTHG_104C": 0.70,
    "TRAINING_TOLERATION": 0.70,
    "EMPLOYMENT_TOLERATION": 0.75,
}
GRANT_RATE: dict[str, float] = {  # assumed
    "EXTENSION": 0.97,
    "SETTLEMENT_PERMIT": 0.90,
    "NATURALISATION": 0.92,
    "AUFENTHG_25A": 0.80,
    "AUFENTHG_25B": 0.70,
    "AUFENTHG_104C": 0.85,
    "TRAINING_TOLERATION": 0.75,
    "EMPLOYMENT_TOLERATION": 0.60,
}
INTERVIEW_SHARE: dict[str, float] = {"NATURALISATION": 0.30, "AUFENTHG_25B": 0.40, "AUFENTHG_25A": 0.20}  # assumed
# Validity of the document handed over, in days (None: unlimited). Per the AufenthG as assumed here:
# § 104c 18 months, § 25b at most two years, § 60d 30 months; the rest assumed.
PERMIT_DAYS: dict[str, tuple[int, int] | None] = {
    "EXTENSION": (365, 1095),
    "SETTLEMENT_PERMIT": None,
    "NATURALISATION": None,
    "AUFENTHG_25A": (730, 1095),
    "AUFENTHG_25B": (730, 730),
    "AUFENTHG_104C": (548, 548),
    "TRAINING_TOLERATION": (730, 1095),
    "EMPLOYMENT_TOLERATION": (913, 913),
}
WITHDRAWAL_REASONS: dict[str, float] = {  # assumed
    "OTHER_PROCEDURE_CHOSEN": 25,
    "NO_PROSPECT_OF_SUCCESS": 20,
    "MOVED_AWAY": 20,
    "LEFT_GERMANY": 10,
    "CLIENT_DECISION": 20,
    "OTHER": 5,
}
SWITCH_TO: dict[str, str] = {  # the procedure chosen instead (OTHER_PROCEDURE_CHOSEN); assumed
    "AUFENTHG_104C": "AUFENTHG_25B",
    "AUFENTHG_25B": "AUFENTHG_25A",
    "AUFENTHG_25A": "AUFENTHG_25B",
    "EXTENSION": "SETTLEMENT_PERMIT",
    "SETTLEMENT_PERMIT": "NATURALISATION",
    "NATURALISATION": "SETTLEMENT_PERMIT",
    "TRAINING_TOLERATION": "EMPLOYMENT_TOLERATION",
    "EMPLOYMENT_TOLERATION": "AUFENTHG_25B",
}
# Applications filed for KIM clients per case opened (residence goals referred to an office; measured in
# the model itself, used to plan the offices' capacity).
KIM_CLIENT_APPLICATIONS_PER_CASE = 0.22
# Procedures a KIM client's residence goal leads to, by target group (assumed).
CASE_PROCEDURES: dict[str, dict[str, float]] = {
    "NEWCOMER": {
        "EXTENSION": 55,
        "AUFENTHG_25A": 15,
        "TRAINING_TOLERATION": 10,
        "AUFENTHG_25B": 10,
        "EMPLOYMENT_TOLERATION": 5,
        "SETTLEMENT_PERMIT": 5,
    },
    "LONG_RESIDENT": {
        "AUFENTHG_25B": 25,
        "AUFENTHG_104C": 20,
        "SETTLEMENT_PERMIT": 15,
        "NATURALISATION": 15,
        "AUFENTHG_25A": 10,
        "EXTENSION": 10,
        "EMPLOYMENT_TOLERATION": 5,
    },
}

DOCUMENTS_DUE_DAYS: dict[str, int] = {"EXTENSION": 14, "default": 28}  # due_by of a documents request (assumed)
APPOINTMENT_DAYS: dict[str, tuple[int, int]] = {  # how far ahead an appointment is given (assumed)
    "interview": (7, 28),
    "hand_over": (5, 35),
}

# --- Durations and remaining shares (all assumed) ------------------------------------------------

# Days between two steps, drawn uniformly between the two bounds; an office step then waits for
# office hours on a working day.
DAYS: dict[str, tuple[float, float]] = {
    "intake": (0.05, 3),  # CaseOpened → ConsentGranted at intake
    "manager_pickup": (0.05, 2),  # a case manager is free → CaseManagerAssigned for the next waiting client
    "assessment": (2, 14),  # CaseManagerAssigned → NeedsAssessed
    "goal_stagger": (0, 10),  # between the goals agreed after one assessment
    "before_referral": (1, 10),  # GoalAgreed (or a failed referral) → ReferralIssued
    "answer": (0.2, 27),  # ReferralIssued → accepted or declined in time (capped at the day before due_by)
    "overdue_by": (1, 21),  # an overdue answer comes this long after due_by
    "unanswered_given_up": (3, 21),  # after due_by, the referring agency stops waiting for an answer
    "office_to_referral": (0.5, 7),  # the office's decision → its ReferralCompleted to the case manager
    "follow_up": (3, 30),  # ReferralAccepted → the partner's own follow-up referral
    "goal_resolution": (0.1, 5),  # a referral's outcome → GoalAchieved / GoalAbandoned
    "wrap_up": (3, 21),  # the last goal resolved → hand-over, transfer or CaseClosed
    "early_ending": (14, 320),  # CaseManagerAssigned → an early ending (moved away, no contact, withdrew)
    "pause": (20, 200),  # CaseManagerAssigned → CasePaused
    "pause_length": (14, 90),  # planned; the actual pause is 0.6 to 1.4 times that
    "consent_withdrawal": (10, 200),  # CaseManagerAssigned → ConsentWithdrawn
    "withdrawal_to_closure": (1, 14),
    "withdrawal_to_new_consent": (2, 21),
    "manager_change": (30, 250),  # CaseManagerAssigned → another case manager of the agency
    "documents_back": (2, 27),  # DocumentsRequested → DocumentsReceived in time (capped at the day before due_by)
    "documents_late": (1, 30),  # late documents: this long after due_by
    "documents_refused": (14, 42),  # documents never come: due_by → DecisionIssued(REFUSED)
    "decision_to_appointment": (1, 6),  # DecisionIssued(GRANTED) → AppointmentScheduled
    "missed_appointment": (1, 5),  # a missed appointment → the next AppointmentScheduled
    "application_withdrawal": (3, 60),  # ApplicationFiled → ApplicationWithdrawn
    "procedure_switch": (1, 20),  # withdrawn for another procedure → the new ApplicationFiled
    "return_after": (20, 540),  # a successful ending → the same client's new case (a third of them after 12 months)
}
SHARES: dict[str, float] = {
    "opener_keeps_case": 0.7,  # a partner with its own case managers keeps the cases it opens
    "normal_need_gets_goal": 0.5,  # urgent and high needs always get a goal
    "need_kept_at_reassessment": 0.5,
    "direct_work_achieved": 0.7,  # goals the case manager pursues without a referral
    "partly_met_achieved": 0.6,  # a referral that met the need partly still achieves the goal
    "pause_without_review_date": 0.15,
    "no_contact_pause_closes": 0.35,  # a pause for lack of contact ends with CaseClosed(NO_CONTACT)
    "recipient_kept_when_narrowed": 0.5,  # per agency of the withdrawn consent
    "documents_never_come": 0.05,
    "documents_late": 0.10,
    "documents_partial": 0.15,  # only some of the requested documents arrive; the rest are requested again
    "missed_appointment": 0.08,
    "kim_client_files_in_person": 0.7,  # else online
    # A client whose case ended with goals achieved or a hand-over into a Regelsystem comes back with a new case
    # (assumed: no published return rate; the steering indicators count these within 6 and 12 months).
    "returns_after_success": 0.12,
}

# --- Calendar -----------------------------------------------------------------------------------

OFFICE_OPENS_H = 8  # office hours, local time (assumed)
OFFICE_CLOSES_H = 16
SUMMER_BREAK = ((7, 14), (8, 26))  # office staff on holiday, roughly NRW's school summer holidays (assumed)
CHRISTMAS_BREAK = ((12, 22), (1, 2))


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate and every scalar knob of the model; defaults and their sources in the comments."""

    years: float = 1.0  # simulated time, from ``start``
    seed: int = 7  # the same seed gives the same events, byte for byte
    scale: float = 1.0  # share of Dortmund: multiplies every inflow and every capacity
    start: date = date(2025, 1, 1)  # first simulated day (Europe/Berlin)
    max_cases: int | None = None  # stop opening cases after this many (None: no limit)
    # Case management
    case_inflow_per_year: float = 2_600.0  # new KIM cases at full scale (assumed; ~1 in 30 foreign residents)
    case_seasonal_amplitude: float = 0.15  # ± share of the mean inflow over the year (assumed)
    case_management_posts: float = CASE_MANAGEMENT_POSTS  # [published] Coesfeld's 12 posts scaled to Dortmund
    caseload_per_post: float = 35.0  # active cases one full-time case manager carries (assumed)
    waiting_patience_days: float = 150.0  # mean time a client stays on the waiting list before giving up (assumed)
    intake_consent_gap_share: float = 0.15  # intake consent leaves out one agency later needed (assumed)
    consent_withdrawal_share: float = 0.04  # cases in which the client withdraws consent (assumed)
    withdrawal_closes_share: float = 0.45  # … and then leaves case management (else: a narrower consent) (assumed)
    supplementary_consent_refusal: float = 0.05  # client refuses a further consent (assumed)
    pause_share: float = 0.25  # cases paused at least once (assumed)
    manager_change_share: float = 0.05  # cases that change case manager within the agency (assumed)
    transfer_share: float = 0.06  # cases handed to another case-management agency for a second phase (assumed)
    handover_share: float = 0.45  # cases with a Regelsystem that end by a hand-over into it (assumed)
    referral_stale_share: float = 0.10  # referrals never answered (assumed)
    referral_decline_share: float = 0.14  # referrals declined (assumed)
    referral_overdue_share: float = 0.15  # answers that come after due_by (assumed)
    goal_replaced_share: float = 0.05  # goals replaced by a new goal in the same Lebenslage (assumed)
    # Immigration and naturalisation offices
    immigration_scale: float = 1.0  # multiplies APPLICATIONS_PER_YEAR
    immigration_seasonal_amplitude: float = 0.4  # ± share of the mean inflow over the year (assumed)
    immigration_peak_day: int = 230  # day of the year of the highest inflow: mid-August, as summer ends (assumed)
    office_capacity_ratio: float = 1.2  # office throughput / mean workload on a normal working day (assumed)
    kim_office_posts: float = KIM_OFFICE_POSTS  # [published] Coesfeld's 2 posts scaled to Dortmund
    files_per_clerk_day: float = 6.0  # work steps (review, decision) one clerk does a day (assumed)
    summer_capacity: float = 0.75  # share of staff at work in the summer break (assumed)
    christmas_capacity: float = 0.5  # share of staff at work between Christmas and New Year (assumed)
    application_withdrawal_share: float = 0.06  # applications withdrawn before a decision (assumed)

    @property
    def days(self) -> int:
        """Simulated days: ``years`` of 365.2425 days, at least one."""
        return max(1, round(self.years * 365.2425))

    @property
    def end(self) -> date:
        """The first day after the simulation (00:00 Europe/Berlin on it ends the simulated time)."""
        return self.start + timedelta(days=self.days)

    def __post_init__(self) -> None:
        if not self.years > 0:
            raise ValueError(f"years must be positive, got {self.years}")
        if self.years > 50:
            raise ValueError(f"years must be at most 50, got {self.years}")
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.scale > 1000:
            raise ValueError(f"scale must be at most 1000, got {self.scale}")
        if self.max_cases is not None and self.max_cases < 0:
            raise ValueError(f"max_cases must not be negative, got {self.max_cases}")
        if not isinstance(self.start, date):
            raise ValueError(f"start must be a date, got {self.start!r}")
        if not 1900 <= self.start.year <= 2200:
            raise ValueError(f"start must lie between 1900 and 2200, got {self.start.isoformat()}")
