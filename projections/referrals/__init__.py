"""referrals: every referral with its lifecycle, judged against the case's consents."""

from projections.referrals.fold import CaseState, ReferralCase, ReferralRow, evolve, fold
from projections.referrals.sink import ReferralsProjection

__all__ = ["CaseState", "ReferralCase", "ReferralRow", "ReferralsProjection", "evolve", "fold"]
