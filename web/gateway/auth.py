"""Who is calling: the agency behind the bearer token (``kim agency add`` issues it), never a claim.

``Authorization: Bearer <token>`` is looked up by its SHA-256 in ``agencies``; the answer is the
agency and its current signing key, which the gateway signs the agency's records with. A missing or
unknown token is a 401; a request whose ``X-KIM-Agency`` header or body names another agency is a
403 (docs/domain.md rule 3: the source agency is the authenticated publisher).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from infra import agencies
from schemas.signing import SigningKey
from web.problems import Problem

AGENCY_HEADER = "X-KIM-Agency"
CLAIMS = ("source_agency", "agency")  # fields a body might use to claim an agency


class TokenBook:
    """Looks tokens up in the platform database (a small pool, made on first use)."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url
        self._pool: asyncpg.Pool | None = None

    async def lookup(self, token: str) -> tuple[str, SigningKey] | None:
        if self.database_url is None:
            raise Problem(503, "this gateway has no database to check tokens in; start it with KIM_DATABASE_URL set")
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.database_url, min_size=0, max_size=4)
        async with self._pool.acquire() as conn:
            return await agencies.by_token(conn, token)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def authenticate(request: web.Request, book: TokenBook) -> tuple[str, SigningKey]:
    """The calling agency and its signing key; 401 without a valid token, 403 when a header claims another."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>' with the token `kim agency add` printed",
            headers={"WWW-Authenticate": 'Bearer realm="kim"'},
        )
    try:
        found = await book.lookup(token.strip())
    except (OSError, asyncpg.PostgresError) as why:
        raise Problem(
            503, f"cannot check the token: the platform database is unreachable ({type(why).__name__})"
        ) from None
    if found is None:
        raise Problem(
            401,
            "invalid or revoked token: ask the platform operator for the agency's current token",
            headers={"WWW-Authenticate": 'Bearer realm="kim", error="invalid_token"'},
        )
    agency, key = found
    claimed = request.headers.get(AGENCY_HEADER)
    if claimed is not None and not claimed.strip():
        raise Problem(400, f"{AGENCY_HEADER} is empty: leave it out, or name the token's agency ({agency})")
    claimed = (claimed or "").strip()
    if claimed and claimed != agency:
        raise Problem(403, f"this token speaks for {agency}; {AGENCY_HEADER}: {claimed} claims another agency")
    return agency, key


def refuse_other_agency(item: Any, agency: str, index: int | None = None) -> Any:
    """An event that claims another agency is a 403; one that names the caller itself loses the field."""
    if not isinstance(item, dict):
        return item
    for name in CLAIMS:
        claimed = item.get(name)
        if claimed is not None and claimed != agency:
            where = "" if index is None else f"event {index}: "
            raise Problem(403, f"{where}{name} {claimed!r} is not the caller: this token speaks for {agency} only")
    return {k: v for k, v in item.items() if k not in CLAIMS}
