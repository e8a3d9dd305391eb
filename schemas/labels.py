"""Display names (German terms of art) for the enum symbols of the catalog.

Symbols are UPPER_SNAKE ASCII so every system can carry them; people read these labels.
A unit test checks that every symbol of every enum in the catalog has one.
"""

STADTBEZIRK = {
    "INNENSTADT_WEST": "Innenstadt-West",
    "INNENSTADT_NORD": "Innenstadt-Nord",
    "INNENSTADT_OST": "Innenstadt-Ost",
    "EVING": "Eving",
    "SCHARNHORST": "Scharnhorst",
    "BRACKEL": "Brackel",
    "APLERBECK": "Aplerbeck",
    "HOERDE": "Hörde",
    "HOMBRUCH": "Hombruch",
    "LUETGENDORTMUND": "Lütgendortmund",
    "HUCKARDE": "Huckarde",
    "MENGEDE": "Mengede",
}

AGENCY = {
    "KIM_CASE_MANAGEMENT": "KIM-Case-Management",
    "KOMMUNALES_INTEGRATIONSZENTRUM": "Kommunales Integrationszentrum",
    "AUSLAENDERBEHOERDE": "Ausländerbehörde",
    "EINBUERGERUNGSBEHOERDE": "Einbürgerungsbehörde",
    "JOBCENTER": "Jobcenter",
    "AGENTUR_FUER_ARBEIT": "Agentur für Arbeit",
    "JUGENDAMT": "Jugendamt",
    "SOZIALAMT": "Sozialamt",
    "WOHNUNGSAMT": "Wohnungsamt",
    "MIGRATIONSBERATUNG_MBE": "Migrationsberatung (MBE)",
    "JUGENDMIGRATIONSDIENST": "Jugendmigrationsdienst (JMD)",
    "INTEGRATIONSKURSTRAEGER": "Integrationskursträger",
    "GESUNDHEITSAMT": "Gesundheitsamt",
    "SCHULAMT": "Schulamt / Bildungsbüro",
    "FAMILIENKASSE": "Familienkasse",
    "OTHER": "andere Stelle",
}


RECHTSKREIS = {
    "SGB_II": "SGB II (Grundsicherung für Arbeitsuchende)",
    "SGB_III": "SGB III (Arbeitsförderung)",
    "SGB_VIII": "SGB VIII (Kinder- und Jugendhilfe)",
    "SGB_XII": "SGB XII (Sozialhilfe)",
    "ASYLBLG": "AsylbLG",
    "AUFENTHG": "AufenthG",
    "STAG": "StAG",
}

ACCESS_ROUTE = {"SELF": "Selbstmelder", "REFERRAL": "Überweisung", "OUTREACH": "aufsuchende Arbeit"}

TARGET_GROUP = {"NEWCOMER": "Neuzugewanderte", "LONG_RESIDENT": "länger hier Lebende"}

CLOSURE_REASON = {
    "GOALS_ACHIEVED": "Ziele erreicht",
    "HANDED_OVER_TO_REGELSYSTEM": "an Regelsystem übergeben",
    "MOVED_AWAY": "verzogen",
    "NO_CONTACT": "kein Kontakt",
    "CLIENT_WITHDREW": "Abbruch durch Klient/in",
}

LEBENSLAGE = {
    "RESIDENCE_LAW": "Aufenthalt",
    "FIRST_ORIENTATION": "Erstorientierung",
    "LANGUAGE": "Sprache",
    "EDUCATION": "Bildung",
    "WORK": "Arbeit",
    "LIVELIHOOD": "Existenzsicherung",
    "HOUSING": "Wohnen",
    "HEALTH": "Gesundheit",
    "FAMILY": "Familie",
    "SOCIAL_PARTICIPATION": "Soziale Teilhabe",
}

PRIORITY = {"URGENT": "akut", "HIGH": "hoch", "NORMAL": "normal"}

DATA_CATEGORY = {
    "IDENTITY_AND_CONTACT": "Stammdaten",
    "RESIDENCE_STATUS": "Aufenthaltsstatus",
    "BENEFITS": "Leistungsbezug",
    "LANGUAGE_SKILLS": "Sprachkenntnisse",
    "EDUCATION_AND_QUALIFICATIONS": "Schul- und Berufsabschlüsse",
    "EMPLOYMENT": "Beschäftigung",
    "HOUSING": "Wohnsituation",
    "HEALTH": "Gesundheitsdaten",
    "FAMILY": "familiäre Situation",
    "CASE_PLAN": "Hilfeplan (Bedarfe, Ziele, Überweisungen)",
}

VERFAHREN = {
    "AUFENTHG_25A": "§ 25a AufenthG (gut integrierte Jugendliche und junge Volljährige)",
    "AUFENTHG_25B": "§ 25b AufenthG (nachhaltige Integration)",
    "AUFENTHG_104C": "§ 104c AufenthG (Chancen-Aufenthaltsrecht)",
    "SETTLEMENT_PERMIT": "Niederlassungserlaubnis",
    "NATURALISATION": "Einbürgerung",
    "EXTENSION": "Verlängerung des Aufenthaltstitels",
    "TRAINING_TOLERATION": "Ausbildungsduldung (§ 60c AufenthG)",
    "EMPLOYMENT_TOLERATION": "Beschäftigungsduldung (§ 60d AufenthG)",
}

PROCEDURES = tuple(VERFAHREN)  # the Verfahren symbols (a unit test holds them to the catalog's enum)

APPLICATION_CHANNEL = {"IN_PERSON": "persönlich", "ONLINE": "online", "POST": "Post", "EMAIL": "E-Mail"}

DOCUMENT_KIND = {
    "PASSPORT": "Pass oder Passersatz",
    "BIOMETRIC_PHOTO": "biometrisches Lichtbild",
    "REGISTRATION_CERTIFICATE": "Meldebescheinigung",
    "BIRTH_OR_MARRIAGE_CERTIFICATE": "Geburts- oder Heiratsurkunde",
    "PROOF_OF_INCOME": "Einkommensnachweis",
    "EMPLOYMENT_CONTRACT": "Arbeitsvertrag",
    "TRAINING_CONTRACT": "Ausbildungsvertrag",
    "SCHOOL_CERTIFICATE": "Schulbescheinigung oder Zeugnis",
    "LANGUAGE_CERTIFICATE": "Sprachzertifikat",
    "CIVIC_KNOWLEDGE_CERTIFICATE": "Test Leben in Deutschland / Einbürgerungstest",
    "RENTAL_CONTRACT": "Mietvertrag (Wohnraumnachweis)",
    "HEALTH_INSURANCE": "Krankenversicherungsnachweis",
    "PENSION_INSURANCE_RECORD": "Rentenversicherungsverlauf",
    "DECLARATION_OF_COMMITMENT": "Bekenntnis- und Loyalitätserklärung",
    "OTHER": "Sonstiges",
}

DECISION_OUTCOME = {"GRANTED": "erteilt", "REFUSED": "abgelehnt"}

REFERRAL_DECLINE_REASON = {
    "NOT_RESPONSIBLE": "nicht zuständig",
    "REQUIREMENTS_NOT_MET": "Voraussetzungen nicht erfüllt",
    "NO_CAPACITY": "keine Kapazität",
    "ALREADY_SUPPORTED": "bereits in Betreuung",
    "CONSENT_INSUFFICIENT": "Einwilligung reicht nicht aus",
    "CLIENT_NOT_REACHED": "Klient/in nicht erreicht",
    "OTHER": "Sonstiges",
}

REFERRAL_OUTCOME = {
    "NEED_MET": "Bedarf gedeckt",
    "NEED_PARTLY_MET": "Bedarf teilweise gedeckt",
    "NEED_NOT_MET": "Bedarf nicht gedeckt",
    "CLIENT_DROPPED_OUT": "Abbruch durch Klient/in",
}

GOAL_ABANDON_REASON = {
    "NO_LONGER_NEEDED": "nicht mehr erforderlich",
    "NOT_ACHIEVABLE": "nicht erreichbar",
    "CLIENT_DECLINED": "von Klient/in nicht mehr gewollt",
    "REPLACED_BY_NEW_GOAL": "durch neues Ziel ersetzt",
    "OTHER": "Sonstiges",
}

PAUSE_REASON = {
    "CLIENT_REQUEST": "auf Wunsch der Klientin / des Klienten",
    "CLIENT_AWAY": "vorübergehend abwesend",
    "WAITING_FOR_DECISION": "wartet auf Entscheidung einer Behörde",
    "WAITING_FOR_PLACE": "wartet auf einen Platz (Kurs, Kita, Maßnahme)",
    "NO_CONTACT": "vorübergehend kein Kontakt",
    "OTHER": "Sonstiges",
}

WITHDRAWAL_REASON = {
    "OTHER_PROCEDURE_CHOSEN": "Wechsel in ein anderes Verfahren",
    "NO_PROSPECT_OF_SUCCESS": "keine Aussicht auf Erfolg",
    "MOVED_AWAY": "Wegzug (Zuständigkeitswechsel)",
    "LEFT_GERMANY": "Ausreise",
    "CLIENT_DECISION": "Entscheidung der Antragstellerin / des Antragstellers",
    "OTHER": "Sonstiges",
}

# By the enum's short name, as it appears in the schemas.
LABELS: dict[str, dict[str, str]] = {
    "Stadtbezirk": STADTBEZIRK,
    "Agency": AGENCY,
    "Rechtskreis": RECHTSKREIS,
    "AccessRoute": ACCESS_ROUTE,
    "TargetGroup": TARGET_GROUP,
    "ClosureReason": CLOSURE_REASON,
    "Lebenslage": LEBENSLAGE,
    "Priority": PRIORITY,
    "DataCategory": DATA_CATEGORY,
    "Verfahren": VERFAHREN,
    "ApplicationChannel": APPLICATION_CHANNEL,
    "DocumentKind": DOCUMENT_KIND,
    "DecisionOutcome": DECISION_OUTCOME,
    "ReferralDeclineReason": REFERRAL_DECLINE_REASON,
    "ReferralOutcome": REFERRAL_OUTCOME,
    "GoalAbandonReason": GOAL_ABANDON_REASON,
    "PauseReason": PAUSE_REASON,
    "WithdrawalReason": WITHDRAWAL_REASON,
}


def label(symbol: str, enum: str | None = None) -> str:
    """The German display name of ``symbol``; pass ``enum`` where symbols repeat (``OTHER``, ``HOUSING``)."""
    if enum is not None:
        return LABELS.get(enum.rsplit(".", 1)[-1], {}).get(symbol, symbol)
    for labels in LABELS.values():
        if symbol in labels:
            return labels[symbol]
    return symbol
