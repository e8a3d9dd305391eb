"""The partner contract checked with other languages' own tools, installed from their registries by this test
(``npm ci`` in ``tests/contract/``, from its lockfile): the AsyncAPI document passes the official AsyncAPI parser,
with the Avro schema parser registered for the messages' payloads."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from schemas.asyncapi import ASYNCAPI_JSON

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).resolve().parents[1] / "contract"


@pytest.fixture(scope="module")
def node_tools() -> Path:
    """``tests/contract/node_modules``, installed exactly as locked (npm's cache makes a second run quick)."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is missing: install Node.js 20 with npm (Debian: apt-get install nodejs npm)"
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=CONTRACT, capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, f"npm ci in {CONTRACT} failed:\n{installed.stdout}\n{installed.stderr}"
    return CONTRACT


def asyncapi_diagnostics(tools: Path, document: Path) -> list[dict[str, Any]]:
    checked = subprocess.run(
        ["node", "asyncapi_check.mjs", str(document)], cwd=tools, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stderr
    return json.loads(checked.stdout)


def test_the_asyncapi_document_passes_the_official_parser(node_tools: Path, tmp_path: Path) -> None:
    diagnostics = asyncapi_diagnostics(node_tools, ASYNCAPI_JSON)
    assert [d for d in diagnostics if d["severity"] in ("error", "warning")] == []

    # The check can fail: the same document with the server's login pointing nowhere is refused.
    broken = json.loads(ASYNCAPI_JSON.read_text(encoding="utf-8"))
    [server] = broken["servers"].values()
    server["security"] = [{"$ref": "#/components/securitySchemes/nowhere"}]
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    errors = [d for d in asyncapi_diagnostics(node_tools, tmp_path / "broken.json") if d["severity"] == "error"]
    assert [e["code"] for e in errors] == ["invalid-ref"], errors
