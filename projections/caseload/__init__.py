"""caseload: one row per case — open/closed, responsible agency, case manager, needs, pauses, hand-overs."""

from projections.caseload.fold import CaseRow, evolve, fold
from projections.caseload.sink import CaseloadProjection

__all__ = ["CaseRow", "CaseloadProjection", "evolve", "fold"]
