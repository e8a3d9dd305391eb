"""What a receiving agency may see of cases: ``GET /v1/referrals/received``.

The agency is the bearer token's, never a parameter; the rows are ``partner.referrals_for(agency, now())``
(migration 0092): the referrals sent to it whose consent covers it, is not withdrawn and not expired today;
and ``partner.handovers_for``: the cases handed over to it while a consent of the case does. After a
``ConsentWithdrawn`` (once the projections applied it) the case is gone from the answer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from aiohttp import web

from web.gateway.auth import TokenBook, authenticate
from web.problems import Problem

REFERRALS = "SELECT * FROM partner.referrals_for($1, $2)"
HANDOVERS = "SELECT * FROM partner.handovers_for($1, $2)"


class PartnerViews:
    """Reads the partner views in the platform database (a small pool, made on first use)."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url
        self._pool: asyncpg.Pool | None = None

    async def received(self, agency: str, as_of: datetime) -> dict[str, list[dict[str, Any]]]:
        """The referrals and the hand-overs ``agency`` may see at ``as_of``, read in one snapshot."""
        if self.database_url is None:
            raise Problem(503, "this gateway has no database to read referrals from; start it with KIM_DATABASE_URL")
        try:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self.database_url, min_size=0, max_size=4)
            async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                referrals = await conn.fetch(REFERRALS, agency, as_of)
                handovers = await conn.fetch(HANDOVERS, agency, as_of)
        except (OSError, asyncpg.PostgresError) as why:
            raise Problem(
                503, f"cannot read the referrals: the platform database is unreachable ({type(why).__name__})"
            ) from None
        return {"referrals": _rows(referrals), "handovers": _rows(handovers)}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def received_referrals(request: web.Request, tokens: TokenBook, views: PartnerViews) -> web.Response:
    """200 with the caller's received referrals and hand-overs as of now; no parameter names an agency or time."""
    agency, _ = await authenticate(request, tokens)
    if request.query:
        names = ", ".join(sorted(request.query))
        raise Problem(400, f"GET /v1/referrals/received takes no parameters (got {names}); the token names the agency")
    as_of = datetime.now(UTC)
    received = await views.received(agency, as_of)
    return web.json_response({"agency": agency, "as_of": as_of.isoformat(), **received})


def _rows(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [{name: _json(value) for name, value in row.items()} for row in rows]


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value
