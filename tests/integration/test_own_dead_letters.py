"""An agency learns why its acknowledged records were not applied: GET /v1/dead-letters through the real gateway,
broker and worker lists the letters of the records it signed — and nothing of another agency's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.integration.conftest import Lane
from tests.integration.helpers import agency_headers, read_all
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration


def closing(case_id: str) -> dict[str, Any]:
    return {"event_type": "CaseClosed", "payload": {"case_id": case_id, "reason": "MOVED_AWAY"}}


def test_an_agency_sees_the_dead_letters_of_its_own_records_only(lane: Lane) -> None:
    worker = lane.worker("caseload")
    config = GatewayConfig(lane.kafka, lane.prefix, database_url=lane.role_urls["gateway"], secrets=lane.secrets)

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            jobcenter, jugendamt = [await agency_headers(lane, a) for a in ("JOBCENTER", "JUGENDAMT")]
            empty = await client.get("/v1/dead-letters", headers=jobcenter)
            assert empty.status == 200, await empty.text()
            assert await empty.json() == {"agency": "JOBCENTER", "total": 0, "letters": []}

            # Closings of cases nobody opened: acknowledged (202), then refused by the caseload projection.
            for case_id, headers in (("DO-L9-1", jobcenter), ("DO-L9-2", jobcenter), ("DO-L9-3", jugendamt)):
                sent = await client.post("/v1/events", json=closing(case_id), headers=headers)
                assert sent.status == 202, await sent.text()
            deadline = asyncio.get_running_loop().time() + 120
            while len(await read_all(lane, "kim.dlq")) < 3:
                assert worker.alive() and asyncio.get_running_loop().time() < deadline, worker.log_text()[-3000:]
                await asyncio.sleep(0.5)

            answer = await client.get("/v1/dead-letters", headers=jobcenter)
            body = await answer.json()
            assert answer.status == 200, body
            assert body["agency"] == "JOBCENTER" and body["total"] == 2
            assert sorted(letter["key"] for letter in body["letters"]) == ["DO-L9-1", "DO-L9-2"]
            letter = body["letters"][0]
            assert letter["projection"] == "caseload" and letter["event_type"] == "CaseClosed"
            assert letter["reason"] == f"case {letter['key']} was never opened"
            assert letter["source"]["topic"] == lane.topic("kim.cases") and letter["attempt"] == 1
            assert body["letters"][0]["failed_at"] >= body["letters"][1]["failed_at"]  # newest first

            theirs = await (await client.get("/v1/dead-letters", headers=jugendamt)).json()
            assert [x["key"] for x in theirs["letters"]] == ["DO-L9-3"] and theirs["total"] == 1

            asked = await client.get("/v1/dead-letters?agency=JUGENDAMT", headers=jobcenter)
            assert asked.status == 400
            assert (await client.get("/v1/dead-letters")).status == 401

    asyncio.run(scenario())
    assert worker.alive()
