"""Both HTTP servers do what their OpenAPI documents say, as schemathesis (`st run --checks all`) probes them.

The gateway runs with the referrals and backlog workers its case gate waits for, and a real agency token from
`kim agency add`; the analysts' API on the same lane's database. Both are real aiohttp servers on free loopback
ports in this process; each document is fetched from its server and every operation is tried with generated valid
and invalid requests: a server error, a status, header or body the document does not name, valid data refused or
invalid data accepted fails the run.

One allowance, made exact by a check of our own (``refused_only_by_rules_json_schema_cannot_say``, loaded into
schemathesis as a hook): an event the schema admits may still be a 422 when it breaks a domain rule that compares
it with the clock, another field, the caller or the case's history (docs/partners.md) — never for any other reason.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from infra.http_tls import HttpTls, http_tls
from infra.processes import free_port
from infra.settings import load_settings
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import run_kim
from tests.integration.https import ca_file
from web.analysts.app import ENDPOINTS, WebConfig
from web.analysts.app import make_app as analysts_app
from web.analysts.params import OFFSET
from web.gateway import GatewayConfig
from web.gateway import make_app as gateway_app

pytestmark = pytest.mark.integration

# An immigration office: it may publish the application events and open cases (the other case events need a part
# in the case, a 403 the document names). Other tests' `kim agency add` use JOBCENTER and WOHNUNGSAMT.
AGENCY = "AUSLAENDERBEHOERDE"
ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 15  # per operation and phase: both runs together stay within a few minutes on two busy cores
REQUEST_TIMEOUT = 20.0  # a case check waits at most 5 s for the projections
MAX_WAIT = 0.5  # the API's cap on `wait` for min_offsets: an empty lane never reaches them, so 503 soon
SEED = 20251231  # the same requests every run, so a failure is reproducible
PUBLISH = "^/v1/events"
# Reasons of a 422 for an event its schema admits: rules that compare it with the clock, another field, the
# caller's agency or the case's consents, which JSON Schema cannot say (each is in the field's description).
BEYOND_JSON_SCHEMA = (
    "must not be before 2015-01-01",
    "must not be after recorded_at",
    "is before the event's date",
    "must not be before occurred_at",
    "must differ from from_agency",
    "must be the source agency",
    "is assessed more than once",
    "is published by the immigration offices only",
    "is after to=",  # the analysts' API: a period whose first day (from) is after its last (to), a 400
)
GATEWAY_CONFIG = f"""
# POSTs of events: a 422 for valid data is expected when a rule beyond JSON Schema refuses it; the hook's own
# check (refused_only_by_rules_json_schema_cannot_say) fails every other 422 for valid data.
[[operations]]
include-path-regex = "{PUBLISH}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

# A batch's items are the Event schema the coverage phase already walks for POST /v1/events; walked again inside an
# array it is some 2000 more requests (minutes on two busy cores) that say nothing new. Fuzzing still sends batches.
[[operations]]
include-path = "/v1/events:batch"
phases.coverage.enabled = false
"""
# The documented "not yet" of read-your-writes: min_offsets the projection has not applied within `wait` seconds are
# a 503 with Retry-After (docs/analysts.md); on an empty lane every generated offset is such a one.
PERIODS = "^(" + "|".join(e.path for e in ENDPOINTS if {"from", "to"} <= set(e.params)) + ")$"
ANALYSTS_CONFIG = f"""
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503"]

# A period with from after to is a 400 (a rule across two parameters); the hook's check fails every other 400.
[[operations]]
include-path-regex = "{PERIODS}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
"""


def agency_token(lane: Lane, agency: str) -> str:
    """The gateway token `kim agency add` prints once for ``agency``."""
    added = run_kim(lane, "agency", "add", agency, timeout=300)
    assert added.returncode == 0, added.stderr
    for line in added.stdout.splitlines():
        if line.strip().startswith("gateway token"):
            return line.strip().removeprefix("gateway token").strip()
    raise AssertionError(f"`kim agency add` printed no gateway token:\n{added.stdout}")


@asynccontextmanager
async def serving(app: web.Application, tls: HttpTls) -> AsyncIterator[str]:
    """``app`` on a free loopback port over HTTPS, as `kim gateway` and `kim serve` listen, until the block ends;
    yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    try:
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls.context).start()
        yield f"{tls.scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def lane_tls(lane: Lane) -> HttpTls:
    """The lane installation's HTTPS, made as the servers make it (its own CA under the lane's KIM_HOME)."""
    tls = http_tls(load_settings(lane.env()))
    assert tls.context is not None and tls.ca is not None
    return tls


async def schemathesis(base: str, home: Path, settings: str, *options: str) -> tuple[int, str]:
    """`st run BASE/openapi.json --checks all` with ``settings`` (schemathesis.toml), bounded and seeded, without a
    stored example database; it verifies the server's certificate against the CA under ``home`` (KIM_HOME)."""
    config = home / f"schemathesis-{base.rsplit(':', 1)[1]}.toml"  # one per server
    config.write_text(settings)
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--tls-verify",
        str(ca_file(home)),
        *options,
        cwd=home,  # its crash cache (.schemathesis/) stays in the lane's home, not the checkout
        env={**os.environ, "SCHEMATHESIS_HOOKS": __name__, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 900)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def assert_conforms(run: tuple[int, str]) -> None:
    code, output = run
    assert code == 0, f"schemathesis found failures (exit {code}):\n{output[-15000:]}"


@pytest.fixture
def token(lane: Lane) -> Iterator[str]:
    """A token of ``AGENCY``; its Kafka login (made by `kim agency add`, shared broker) is removed afterwards."""
    token = agency_token(lane, AGENCY)
    yield token
    run_kim(lane, "agency", "remove", AGENCY, timeout=300)


def test_the_gateway_does_what_its_openapi_document_says(lane: Lane, token: str) -> None:
    lane.worker("referrals")
    lane.worker("backlog")
    url = lane.role_urls.get("gateway", lane.database_url)
    config = GatewayConfig(lane.kafka, lane.prefix, database_url=url, secrets=lane.secrets)

    async def run() -> tuple[int, str]:
        async with serving(gateway_app(config), lane_tls(lane)) as base:
            # filter_too_much is Hypothesis's health check on its own effort (drawn batches of 26 event shapes that a
            # oneOf discards), not a check of the server: suppressed, the fuzzer keeps drawing instead of giving up.
            options = ("--header", f"Authorization: Bearer {token}", "--suppress-health-check", "filter_too_much")
            return await schemathesis(base, lane.home, GATEWAY_CONFIG, *options)

    assert_conforms(asyncio.run(run()))


def test_the_analysts_api_does_what_its_openapi_document_says(lane: Lane) -> None:
    config = WebConfig(lane.role_urls.get("analyst", lane.database_url), lane.prefix, max_wait=MAX_WAIT)

    async def run() -> tuple[int, str]:
        async with serving(analysts_app(config), lane_tls(lane)) as base:
            return await schemathesis(base, lane.home, ANALYSTS_CONFIG)

    assert_conforms(asyncio.run(run()))


def _register_hooks() -> None:
    """In the `st` process only (SCHEMATHESIS_HOOKS names this module): the check behind the 422 allowance, and a
    filter for a generator slip of schemathesis."""
    import schemathesis as st

    @st.hook
    def filter_case(context: Any, case: Any) -> bool:
        """No "valid" case whose X-KIM-Min-Offsets the document refuses: the coverage phase draws header values from
        letters and digits only, so for a pattern that needs ':' it sends e.g. `0` and marks the request valid."""
        meta, offsets = case.meta, (case.headers or {}).get("X-KIM-Min-Offsets")
        if meta is None or offsets is None or not meta.generation.mode.is_positive:
            return True
        return all(OFFSET.fullmatch(item) for item in str(offsets).split(","))

    @st.check
    def refused_only_by_rules_json_schema_cannot_say(ctx: Any, response: Any, case: Any) -> None:
        """A valid request (by its schema) refused with 422 or 400 names only rules beyond JSON Schema."""
        meta = case.meta
        if response.status_code not in (400, 422) or meta is None or not meta.generation.mode.is_positive:
            return
        errors = response.json().get("errors") or [{"field": "", "reason": response.json().get("error", "")}]
        other = [e for e in errors if not _beyond_json_schema(e)]
        if other:
            raise AssertionError(f"valid data refused for a rule the schema could say: {other}")


def _beyond_json_schema(error: dict[str, Any]) -> bool:
    reason = str(error.get("reason", ""))
    if error.get("field") == "payload.consent_id":  # the case gate: no consent of the case lets the data pass
        return True
    return any(fragment in reason for fragment in BEYOND_JSON_SCHEMA)


if os.environ.get("SCHEMATHESIS_HOOKS") == __name__:
    _register_hooks()
