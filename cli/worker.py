"""Entry point of a projection worker process: ``python -m cli.worker PROJECTION``."""

from __future__ import annotations

import sys

from streams.operations.worker_process import projection_of, run


def main(argv: list[str]) -> int:
    projection = projection_of(argv, "cli.worker")
    return 2 if projection is None else run(projection)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
