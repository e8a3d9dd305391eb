"""Every projection the platform runs, by name (workers, `kim status` and the bulk path use these names)."""

from __future__ import annotations

from projections.backlog import BacklogProjection
from projections.caseload import CaseloadProjection
from projections.outcomes import OutcomesProjection
from projections.projection import Projection
from projections.referrals import ReferralsProjection

PROJECTIONS: dict[str, Projection] = {
    p.name: p for p in (CaseloadProjection(), ReferralsProjection(), BacklogProjection(), OutcomesProjection())
}
