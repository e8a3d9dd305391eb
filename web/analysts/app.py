"""The read-only analysts' API and the dashboard: one aiohttp app (`kim serve`).

Every answer is suppressed as a whole table in SQL (the ``analytics`` schema, migration 0090) before it
is paged, so paging never changes what is hidden. Queries run as the read-only group role
``kim_analyst`` in read-only transactions. Whether figures per case manager are shown is the analytics
schema's decision too (migration 0100, KIM_CASE_MANAGER_FIGURES): when it refuses them,
``/v1/caseloads/case-managers`` is a 403 naming the setting, and ``/v1/caseloads/case-manager-load`` (always
there) has the caseload per case manager in bands, per agency.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import asyncpg
from aiohttp import web

from analytics import queries
from analytics.render import to_csv, to_json
from projections.registry import PROJECTIONS
from schemas.labels import AGENCY, LEBENSLAGE, STADTBEZIRK
from web.analysts import params
from web.analysts.openapi import document
from web.problems import SERVICE, Problem, error_response, json_errors

log = logging.getLogger("kim.web")
STATIC = Path(__file__).parent / "static"
Query = Callable[..., Awaitable[queries.Result]]


@dataclass(frozen=True)
class WebConfig:
    database_url: str
    topic_prefix: str = ""
    threshold: int = 4
    max_wait: float = params.MAX_WAIT


@dataclass(frozen=True)
class Endpoint:
    path: str
    summary: str
    query: Query
    params: tuple[str, ...]
    projection: str | None
    forbidden: str | None = None  # when the analytics schema may refuse the answer: the 403's description


ENDPOINTS = (
    Endpoint(
        "/v1/caseloads",
        "Open cases and the waiting list for a case manager per Stadtbezirk (or agency), longest list first",
        queries.caseloads,
        ("as_of", "district", "agency", "group_by"),
        "caseload",
    ),
    Endpoint(
        "/v1/caseloads/weekly",
        "Cases opened and closed per week",
        queries.caseload_weekly,
        ("from", "to", "district", "agency"),
        "caseload",
    ),
    Endpoint(
        "/v1/caseloads/case-manager-load",
        "Case managers per agency and how many carry 1-10, 11-20, 21-30, 31-40, >40 open cases (no case manager "
        "named); case_manager_figures says whether /v1/caseloads/case-managers answers",
        queries.case_manager_load,
        ("agency",),
        "caseload",
    ),
    Endpoint(
        "/v1/caseloads/case-managers",
        "Open cases per case manager (pseudonym) — only where KIM_CASE_MANAGER_FIGURES is on (with the staff "
        "council's agreement); otherwise 403",
        queries.caseload_by_case_manager,
        ("agency",),
        "caseload",
        forbidden="KIM_CASE_MANAGER_FIGURES is off: figures per case manager are not shown",
    ),
    Endpoint(
        "/v1/referrals",
        "The from -> to agency matrix of referrals with lead times, slowest acceptance first; totals as ALL",
        queries.referrals,
        ("from", "to", "agency", "to_agency"),
        "referrals",
    ),
    Endpoint(
        "/v1/referrals/open",
        "Referrals open, awaiting an answer and overdue at as_of per receiving agency",
        queries.referrals_open,
        ("as_of", "to_agency"),
        "referrals",
    ),
    Endpoint(
        "/v1/backlog",
        "Pending applications by procedure and age at as_of, and when they will be cleared",
        queries.backlog,
        ("as_of", "procedure", "weeks"),
        "backlog",
    ),
    Endpoint(
        "/v1/backlog/flow",
        "Applications filed and decided or withdrawn per week",
        queries.backlog_flow,
        ("from", "to", "procedure"),
        "backlog",
    ),
    Endpoint(
        "/v1/outcomes",
        "Goals agreed, achieved and abandoned in the period (from..to, Dortmund days) per Lebenslage, agency or "
        "Stadtbezirk; open and overdue at as_of; the achievement rate and the median days to achievement",
        queries.outcomes,
        ("from", "to", "as_of", "goals_by"),
        "outcomes",
    ),
    Endpoint(
        "/v1/outcomes/returns",
        "Cases closed in the period per Stadtbezirk or agency, the successful endings (goals achieved or into a "
        "Regelsystem), and of those the clients who came back with a new case within 6 and 12 months",
        queries.returns,
        ("from", "to", "as_of", "group_by"),
        "outcomes",
    ),
    Endpoint(
        "/v1/backlog/age-history",
        "Pending applications at the end of each week by age bucket",
        queries.backlog_age_history,
        ("from", "to", "as_of", "procedure"),
        "backlog",
    ),
)

CONFIG = web.AppKey("config", WebConfig)
POOL = web.AppKey("pool", asyncpg.Pool)
OPENAPI = web.AppKey("openapi", dict)


def make_app(config: WebConfig) -> web.Application:
    app = web.Application(middlewares=[_security_headers, json_errors])
    app[SERVICE] = "the read API"
    app[CONFIG] = config
    app[OPENAPI] = document(ENDPOINTS, config.topic_prefix)
    for endpoint in ENDPOINTS:
        app.router.add_get(endpoint.path, _handler(endpoint))
    app.router.add_get("/v1/freshness", freshness)
    app.router.add_get("/v1/labels", labels)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", dashboard)
    app.router.add_get("/static/plotly.min.js", plotly_js)
    app.router.add_static("/static/", STATIC, show_index=False)
    app.cleanup_ctx.append(_pool)
    return app


async def _pool(app: web.Application):
    config = app[CONFIG]

    async def init(conn: asyncpg.Connection) -> None:
        await conn.execute("SET ROLE kim_analyst")  # the role survives the pool's RESET ALL on release

    # Startup settings, not SET: the pool runs RESET ALL whenever a connection is released, which would put
    # a SET threshold back to the SQL default (4) and turn read-only off after a connection's first request.
    settings = {"default_transaction_read_only": "on", "kim.small_cell_max": str(config.threshold)}
    app[POOL] = await asyncpg.create_pool(
        config.database_url, min_size=1, max_size=4, init=init, timeout=10, server_settings=settings
    )
    yield
    await app[POOL].close()


@web.middleware
async def _security_headers(request: web.Request, handler):
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "max-age=3600" if request.path.startswith("/static/") else "no-store")
    return response


def _handler(endpoint: Endpoint):
    async def handle(request: web.Request) -> web.StreamResponse:
        config = request.app[CONFIG]
        parsed = params.parse(request.query, endpoint.params, request.headers.get("X-KIM-Min-Offsets"))
        try:
            if parsed.min_offsets and endpoint.projection:
                wait = min(parsed.wait, config.max_wait)
                await wait_for_offsets(request.app, endpoint.projection, parsed.min_offsets, wait)
            async with request.app[POOL].acquire() as conn:
                result = await endpoint.query(conn, parsed.filters, config.threshold)
        except queries.CaseManagerFiguresOff:
            return error_response(
                403,
                f"figures per case manager are off ({queries.CASE_MANAGER_FIGURES}): they are performance data about "
                "staff, shown only where the operator turned them on with the staff council's agreement; "
                "GET /v1/caseloads/case-manager-load has the caseload per case manager in bands, per agency",
                setting=queries.CASE_MANAGER_FIGURES,
                see="/v1/caseloads/case-manager-load",
            )
        except Problem as problem:
            if problem.status != 503:
                raise
            response = error_response(problem.status, problem.message, problem.errors, **problem.extra)
            response.headers["Retry-After"] = "1"
            return response
        except (OSError, asyncpg.PostgresConnectionStatusError, asyncpg.CannotConnectNowError) as why:
            log.warning("database unreachable: %s", why)
            response = error_response(503, "the database is unreachable; try again shortly")
            response.headers["Retry-After"] = "5"
            return response
        return _answer(request, result, parsed)

    handle.__name__ = endpoint.path.strip("/").replace("/", "_").replace("-", "_")
    return handle


def _answer(request: web.Request, result: queries.Result, parsed: params.Request) -> web.StreamResponse:
    total = len(result.rows)
    page = queries.Result(
        result.name,
        result.title,
        result.columns,
        result.rows[parsed.offset : parsed.offset + parsed.limit],
        result.threshold,
        result.notes,
        result.protected,
        result.meta,
    )
    wants_csv = parsed.fmt == "csv" or (
        "format" not in request.query and "text/csv" in request.headers.get("Accept", "")
    )
    headers = {"X-Total-Count": str(total)}
    if wants_csv:
        return web.Response(text=to_csv(page), content_type="text/csv", charset="utf-8", headers=headers)
    following = parsed.offset + parsed.limit
    pagination = {
        "limit": parsed.limit,
        "offset": parsed.offset,
        "total": total,
        "next": str(request.url.update_query(offset=following).relative()) if following < total else None,
    }
    return web.json_response(to_json(page, pagination=pagination), headers=headers)


async def wait_for_offsets(
    app: web.Application, projection: str, wanted: dict[tuple[str, int], int], wait: float
) -> None:
    """Until the projection has applied each record ``topic:partition:offset`` (next_offset > offset), or 503."""
    prefix = app[CONFIG].topic_prefix
    sources = {prefix + t for t in PROJECTIONS[projection].source_topics}
    for topic, _ in wanted:
        if topic not in sources:
            raise Problem(
                400,
                f"invalid parameter min_offsets: the {projection} projection does not read topic {topic!r} "
                f"(it reads {', '.join(sorted(sources))})",
                [{"field": "min_offsets", "reason": f"topic {topic!r} is not read by {projection}"}],
            )
    deadline = time.monotonic() + wait
    while True:
        async with app[POOL].acquire() as conn:
            await conn.execute("RESET ROLE")
            try:
                rows = await conn.fetch(
                    "SELECT topic, partition, next_offset FROM public.projection_checkpoints WHERE projection = $1",
                    projection,
                )
            finally:
                await conn.execute("SET ROLE kim_analyst")
        at = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        behind = {tp: off for tp, off in wanted.items() if at.get(tp, 0) <= off}
        if not behind:
            return
        if time.monotonic() >= deadline:
            detail = ", ".join(
                f"{t}:{p}:{off} (applied up to offset {at.get((t, p), 0) - 1})"
                for (t, p), off in sorted(behind.items())
            )
            raise Problem(
                503,
                f"the {projection} projection has not yet applied {detail} after {wait:g} s; retry shortly",
                projection=projection,
            )
        await asyncio.sleep(0.1)


async def freshness(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        result = await queries.freshness(conn)
    return web.json_response(to_json(result))


async def labels(request: web.Request) -> web.Response:
    """Display names of the symbols (for the dashboard's axes)."""
    return web.json_response({"district": STADTBEZIRK, "agency": AGENCY, "lebenslage": LEBENSLAGE})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def dashboard(request: web.Request) -> web.Response:
    return web.FileResponse(STATIC / "dashboard.html", headers={"Content-Type": "text/html; charset=utf-8"})


async def plotly_js(request: web.Request) -> web.StreamResponse:
    """plotly.js from the plotly wheel: the dashboard needs no internet."""
    path = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
    return web.FileResponse(path, headers={"Content-Type": "text/javascript; charset=utf-8"})


def serve(
    config: WebConfig,
    host: str,
    port: int,
    announce: Callable[[str], None] = print,
    ssl_context: ssl.SSLContext | None = None,
    note: str = "",
) -> None:
    """Serve HTTPS with ``ssl_context`` (plain HTTP without one); ``note`` says which certificate clients trust."""
    app = make_app(config)
    url = f"{'https' if ssl_context else 'http'}://{host}:{port}"
    web.run_app(
        app,
        host=host,
        port=port,
        ssl_context=ssl_context,
        print=lambda _: announce(
            f"KIM analytics on {url}/ (dashboard), {url}/openapi.json (API){'; ' + note if note else ''}; "
            "Ctrl-C stops it"
        ),
        handle_signals=True,
        access_log=None,
    )
