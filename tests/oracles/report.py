"""Compact text reports over the three read models, for the terminal (``kim demo`` prints them).

Each function runs a few analyst queries (README "Analysts: querying") at ``as_of`` and renders
tables with ``analytics.table``. Counts from 1 to 4 are shown as ``<5`` and a median or rate over fewer
than 5 cases is not shown at all (docs/domain.md rule 5: no small cells).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import asyncpg

from analytics.suppression import DEFAULT_SMALL_CELL_MAX as SMALL_CELL_MAX
from analytics.table import table
from schemas.labels import label

AGE_BUCKETS = ("0-30", "31-90", "91-180", "181-365", ">365")
BACKLOG_BUCKETS = ("0-30", "31-90", "91-180", ">180")
PENDING = ("received", "waiting_for_documents", "complete", "appointment_scheduled")
WEEKS = 8


def suppress(count: int) -> str:
    """A count as this report shows it: 1 to 4 as ``<5``."""
    return "<5" if 1 <= count <= SMALL_CELL_MAX else str(count)


def _name(symbol: str | None) -> str:
    """The German label, without the explanation in brackets (tables stay narrow)."""
    if symbol is None:
        return "-"
    return label(symbol).split(" (")[0]


def _days(value: float | None, base: int) -> str:
    return "-" if value is None or base <= SMALL_CELL_MAX else f"{value:.1f}"


def _share(part: int, whole: int) -> str:
    return "-" if whole <= SMALL_CELL_MAX else f"{100 * part / whole:.0f}%"


def _day(as_of: datetime) -> str:
    return as_of.strftime("%Y-%m-%d %H:%M %Z").strip()


async def caseload_report(conn: asyncpg.Connection, as_of: datetime) -> str:
    """Open cases by age and waiting for a case manager per agency, needs, case managers, recent weeks."""
    ages: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await conn.fetch("SELECT * FROM caseload_age_buckets($1)", as_of):
        ages[r["agency"]][r["bucket"]] = r["open_cases"]
    waiting = {r["agency"]: r for r in await conn.fetch("SELECT * FROM caseload_waiting($1)", as_of)}
    rows = []
    for agency in sorted(set(ages) | set(waiting), key=lambda a: -sum(ages[a].values())):
        open_cases = sum(ages[agency].values())
        w = waiting.get(agency)
        n = w["waiting"] if w else 0
        rows.append(
            [
                _name(agency),
                suppress(open_cases),
                *(suppress(ages[agency].get(b, 0)) for b in AGE_BUCKETS),
                suppress(n),
                _days(w["median_days"] if w else None, n),
            ]
        )
    parts = [
        f"Open cases at {_day(as_of)} by age in days, and cases still waiting for a case manager",
        table(["responsible agency", "open", *AGE_BUCKETS, "waiting", "median wait d"], rows),
    ]

    needs = await conn.fetch("SELECT * FROM caseload_open_by_lebenslage ORDER BY open_cases DESC, lebenslage")
    managers = await conn.fetch("SELECT * FROM caseload_manager_load ORDER BY open_cases DESC, agency")
    parts += [
        "",
        "Open cases by Lebenslage (latest needs assessment; as far as the log is read)",
        table(
            ["Lebenslage", "open", "urgent", "high"],
            [
                [_name(r["lebenslage"]), suppress(r["open_cases"]), suppress(r["urgent"]), suppress(r["high"])]
                for r in needs
            ],
        ),
        "",
        "Open cases per case manager",
        table(
            ["agency", "case managers", "open cases", "average", "most"],
            [
                [
                    _name(r["agency"]),
                    suppress(r["case_managers"]),
                    suppress(r["open_cases"]),
                    r["avg_per_manager"],
                    suppress(r["max_per_manager"]),
                ]
                for r in managers
            ],
        ),
    ]
    since = as_of - timedelta(weeks=WEEKS)
    weekly = await conn.fetch(
        "SELECT week, sum(opened)::bigint AS opened, sum(closed)::bigint AS closed FROM caseload_weekly"
        " WHERE week > $1::date AND week <= $2::date GROUP BY week ORDER BY week",
        since,
        as_of,
    )
    reasons = await conn.fetch(
        "SELECT closure_reason, sum(closed)::bigint AS closed FROM caseload_closure_reasons"
        " GROUP BY closure_reason ORDER BY closed DESC"
    )
    parts += [
        "",
        f"Opened and closed per week (the {WEEKS} weeks up to {as_of.date()})",
        table(
            ["week of", "opened", "closed"], [[r["week"], suppress(r["opened"]), suppress(r["closed"])] for r in weekly]
        ),
        "",
        "Closure reasons",
        table(["reason", "closed"], [[_name(r["closure_reason"]), suppress(r["closed"])] for r in reasons]),
    ]
    return "\n".join(parts)


async def referrals_report(conn: asyncpg.Connection, as_of: datetime) -> str:
    """Open and overdue referrals per receiving agency, lead times, the busiest routes, decline reasons."""
    open_rows = {r["to_agency"]: r for r in await conn.fetch("SELECT * FROM referrals_open($1)", as_of)}
    lead = {r["to_agency"]: r for r in await conn.fetch("SELECT * FROM referral_lead_times")}
    rows = []
    for agency in sorted(
        set(open_rows) | (set(lead) - {"ALL"}), key=lambda a: -(open_rows[a]["open"] if a in open_rows else 0)
    ):
        o = open_rows.get(agency)
        t = lead.get(agency)
        rows.append(
            [
                _name(agency),
                suppress(o["open"] if o else 0),
                suppress(o["awaiting_answer"] if o else 0),
                suppress(o["overdue"] if o else 0),
                _days(t["median_days_to_accept"] if t else None, t["accepted"] if t else 0),
                _days(t["p90_days_to_accept"] if t else None, t["accepted"] if t else 0),
                _days(t["median_days_to_complete"] if t else None, t["completed"] if t else 0),
                _days(t["p90_days_to_complete"] if t else None, t["completed"] if t else 0),
            ]
        )
    parts = [
        f"Referrals per receiving agency: open at {_day(as_of)}, and lead times in days from issue",
        table(
            ["to agency", "open", "awaiting", "overdue", "accept med", "accept p90", "complete med", "complete p90"],
            rows,
        ),
    ]
    routes = await conn.fetch("SELECT * FROM referral_matrix ORDER BY issued DESC, from_agency, to_agency LIMIT 10")
    parts += [
        "",
        "Busiest routes (from -> to): acceptance of answered referrals, completion of accepted ones",
        table(
            ["from", "to", "issued", "accepted", "declined", "completed", "acceptance", "completion"],
            [
                [
                    _name(r["from_agency"]),
                    _name(r["to_agency"]),
                    suppress(r["issued"]),
                    suppress(r["accepted"]),
                    suppress(r["declined"]),
                    suppress(r["completed"]),
                    _share(r["accepted"], r["accepted"] + r["declined"]),
                    _share(r["completed"], r["accepted"]),
                ]
                for r in routes
            ],
        ),
    ]
    reasons = await conn.fetch(
        "SELECT reason, sum(declined)::bigint AS declined FROM referral_decline_reasons GROUP BY reason"
        " ORDER BY declined DESC"
    )
    parts += [
        "",
        "Why referrals are declined",
        table(["reason", "declined"], [[_name(r["reason"]), suppress(r["declined"])] for r in reasons]),
    ]
    return "\n".join(parts)


async def backlog_report(conn: asyncpg.Connection, as_of: datetime) -> str:
    """Pending applications by procedure, state and age; weeks to clear; weekly flow; processing times."""
    states: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await conn.fetch("SELECT * FROM backlog_at($1)", as_of):
        states[r["procedure"]][r["state"]] = r["pending"]
    ages: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await conn.fetch("SELECT * FROM backlog_age_buckets($1)", as_of):
        ages[r["procedure"]][r["bucket"]] = r["pending"]
    clear = {r["procedure"]: r for r in await conn.fetch("SELECT * FROM backlog_weeks_to_clear($1, $2)", as_of, WEEKS)}
    rows = []
    for procedure in sorted(states, key=lambda p: -sum(states[p].values())):
        c = clear.get(procedure)
        weeks = c["weeks_to_clear"] if c else None
        rows.append(
            [
                _name(procedure),
                suppress(sum(states[procedure].values())),
                *(suppress(states[procedure].get(s, 0)) for s in PENDING),
                *(suppress(ages[procedure].get(b, 0)) for b in BACKLOG_BUCKETS),
                "-" if weeks is None else f"{weeks:.1f}",
            ]
        )
    total = clear.get("ALL")
    if total is not None:
        rows.append(
            [
                "total",
                suppress(total["pending"]),
                *(suppress(sum(s.get(p, 0) for s in states.values())) for p in PENDING),
                *(suppress(sum(a.get(b, 0) for a in ages.values())) for b in BACKLOG_BUCKETS),
                "-" if total["weeks_to_clear"] is None else f"{total['weeks_to_clear']:.1f}",
            ]
        )
    parts = [
        f"Pending applications at {_day(as_of)} by state and by age in days; weeks to clear at the "
        f"throughput of the last {WEEKS} weeks",
        table(
            ["procedure", "pending", "received", "documents", "complete", "appointment", *BACKLOG_BUCKETS, "weeks"],
            rows,
        ),
    ]
    flow = await conn.fetch(
        "SELECT week, sum(inflow)::bigint AS inflow, sum(outflow)::bigint AS outflow, sum(granted)::bigint AS granted,"
        " sum(refused)::bigint AS refused, sum(withdrawn)::bigint AS withdrawn FROM backlog_flow_weekly"
        " WHERE week > $1::date AND week <= $2::date GROUP BY week ORDER BY week",
        as_of - timedelta(weeks=WEEKS),
        as_of,
    )
    times = await conn.fetch("SELECT * FROM backlog_processing_time ORDER BY procedure = 'ALL', decided DESC")
    parts += [
        "",
        "Inflow and outflow per week",
        table(
            ["week of", "filed", "decided or withdrawn", "granted", "refused", "withdrawn"],
            [
                [r["week"], *(suppress(r[c]) for c in ("inflow", "outflow", "granted", "refused", "withdrawn"))]
                for r in flow
            ],
        ),
        "",
        "Processing time from filing to decision, in days",
        table(
            ["procedure", "decided", "median", "p90"],
            [
                [
                    "total" if r["procedure"] == "ALL" else _name(r["procedure"]),
                    suppress(r["decided"]),
                    _days(r["median_days"], r["decided"]),
                    _days(r["p90_days"], r["decided"]),
                ]
                for r in times
            ],
        ),
    ]
    return "\n".join(parts)
