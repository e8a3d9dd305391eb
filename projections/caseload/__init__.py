"""caseload: open cases per agency and per Stadtbezirk."""

from projections.caseload.fold import CaseRow, fold
from projections.caseload.sink import CaseloadProjection

__all__ = ["CaseRow", "CaseloadProjection", "fold"]
