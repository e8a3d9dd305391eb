"""backlog: pending applications at the immigration and naturalisation offices, with state history."""

from projections.backlog.fold import ApplicationRow, IntervalRow, evolve, fold
from projections.backlog.sink import BacklogProjection

__all__ = ["ApplicationRow", "BacklogProjection", "IntervalRow", "evolve", "fold"]
