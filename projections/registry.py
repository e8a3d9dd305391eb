"""Every projection the platform runs, by name."""

from __future__ import annotations

from projections.caseload import CaseloadProjection
from projections.runner import Projection

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (CaseloadProjection(),)}
