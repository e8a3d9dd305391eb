"""outcomes: goals agreed and how they ended, how cases began and ended, and the link that finds a return."""

from projections.outcomes.fold import CaseOutcome, GoalRow, evolve, fold
from projections.outcomes.sink import OutcomesProjection

__all__ = ["CaseOutcome", "GoalRow", "OutcomesProjection", "evolve", "fold"]
