"""A projection worker with its record loop's stages timed: ``python -m benchmarks.accounted_worker PROJECTION``.

The benchmark's live rows run this instead of ``python -m cli.worker``: the same worker, its pure stages wrapped by
``benchmarks.stages`` before it starts. Every half second a thread writes the stages' CPU seconds so far to the
JSON file ``BENCH_STAGES`` (whole file replaced), which the benchmark reads when the worker applied its first
batch and when it reached lag 0: the difference is the span's own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from benchmarks.stages import WRITE_EVERY_S, StageClock
from streams.operations.worker_process import projection_of, run


def _write_every(clock: StageClock, path: Path) -> None:
    scratch = path.with_suffix(".tmp")
    while True:
        scratch.write_text(json.dumps(clock.snapshot()))
        os.replace(scratch, path)
        time.sleep(WRITE_EVERY_S)


def main(argv: list[str]) -> int:
    projection = projection_of(argv, "benchmarks.accounted_worker")
    if projection is None:
        return 2
    clock = StageClock().install()
    path = Path(os.environ["BENCH_STAGES"])
    threading.Thread(target=_write_every, args=(clock, path), name="bench-stages", daemon=True).start()
    return run(projection)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
