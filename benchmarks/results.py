"""Where every benchmark leaves its numbers: a JSON file, its folder made on demand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def write_results(path: Path, results: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def report(results: Any, table: str, name: str, out: Path | None) -> int:
    """Print a standalone benchmark's table, write its JSON (default ``results/<name>-<time>.json``), say where."""
    print(table)
    path = out or Path("results") / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    write_results(path, results)
    print(f"results written to {path}")
    return 0
