"""Where every benchmark leaves its numbers: a JSON file, its folder made on demand."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.errors import SetupError


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


def run_and_report(measure: Callable[[], Any], render: Callable[[Any], str], name: str, out: Path | None) -> int:
    """A standalone benchmark's ending: ``measure``, then ``report`` it; a set-up failure is one ``error:`` line."""
    try:
        results = measure()
    except SetupError as why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    return report(results, render(results), name, out)
