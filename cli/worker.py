"""Entry point of a projection worker process: ``python -m cli.worker PROJECTION``."""

from __future__ import annotations

import sys

from projections.registry import PROJECTIONS
from streams.operations.worker_process import run


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PROJECTIONS:
        print(f"usage: python -m cli.worker {{{'|'.join(PROJECTIONS)}}}", file=sys.stderr)
        return 2
    return run(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
