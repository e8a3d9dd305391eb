"""The platform's switches in the database: `kim up` writes them from the settings, the analytics schema obeys them.

One switch so far, ``KIM_CASE_MANAGER_FIGURES`` (``Settings.case_manager_figures``): whether analysts may see open
cases per case-manager pseudonym. Those are performance data about employees; in a German public administration
such technical monitoring needs the staff council's agreement (Personalrat), so the operator turns it on only with
it. It lives in ``platform_settings`` (migration 0100), a one-row table of the owner on which no role holds a
privilege — not in a session setting, which an analyst could set in their own session — and the analytics schema
reads it (``analytics.case_manager_figures()``). Each change is recorded in the audit log, in the same transaction.
"""

from __future__ import annotations

import asyncpg

from infra import audit
from infra.settings import CASE_MANAGER_FIGURES, Settings

ACTION = "settings.case_manager_figures"


async def write_switches(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Make ``platform_settings`` say what the settings say (as the owner); return a line per change."""
    wanted = settings.case_manager_figures
    async with conn.transaction():
        was = await conn.fetchval("SELECT case_manager_figures FROM platform_settings FOR UPDATE")
        if was == wanted:
            return []
        await conn.execute("UPDATE platform_settings SET case_manager_figures = $1, updated_at = now()", wanted)
        details = {"variable": CASE_MANAGER_FIGURES, "from": "on" if was else "off", "to": "on" if wanted else "off"}
        await audit.record(conn, settings.actor, ACTION, "platform_settings", "ok", details)
    if wanted:
        return [
            f"per-case-manager figures are on for analysts ({CASE_MANAGER_FIGURES}=on): only with the staff "
            "council's agreement"
        ]
    return [f"per-case-manager figures are off for analysts ({CASE_MANAGER_FIGURES} unset or off)"]
