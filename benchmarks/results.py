"""Where every benchmark leaves its numbers: a JSON file, its folder made on demand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(path: Path, results: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
