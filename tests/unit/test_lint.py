import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_projections_never_import_a_kafka_client() -> None:
    """Folds and sinks stay testable without a broker (docs/architecture.md)."""
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "projections").rglob("*.py")
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("import aiokafka", "from aiokafka", "import faust", "from faust"))
    ]
    assert offenders == []
