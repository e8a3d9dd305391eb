"""Display names (German terms of art) for the enum symbols of the catalog."""

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
}


def label(symbol: str) -> str:
    return STADTBEZIRK.get(symbol) or AGENCY.get(symbol) or symbol
