"""The Dortmund KIM network as processes: clients, case managers, partner agencies and the offices.

Case management (building block 2). Clients arrive (Poisson, seasonal, weighted by Stadtbezirk);
a case is opened, the client signs a consent at intake and joins the waiting list of one
case-management agency. Case managers carry a finite caseload, so clients wait; some give up
while waiting. A case manager assesses the needs, agrees goals (the most pressing needs first)
and refers the client to the agencies responsible — only with a consent that covers the
receiving agency and is neither withdrawn nor expired, else a further consent is asked for
first. Referrals are accepted and completed, declined, or never answered; a declined or
unanswered referral is tried once more with an alternative agency. Some partners pass work on
(a follow-up referral they issue themselves). Cases pause and resume, change case manager,
move to another case-management agency for a second phase, lose their consent, end early
(moved away, no contact, withdrew) or end when the goals are resolved — handed over into a
Regelsystem or with the goals achieved.

Immigration and naturalisation offices (building block 3). Applications arrive with a seasonal
peak after summer, plus those filed for KIM clients with a residence goal (linked by case_id).
Each office works a limited number of steps a day (first review, review of documents received,
decision) — fewer in the summer and Christmas breaks — so a backlog builds when the inflow
exceeds the capacity and drains when it falls below. The KIM posts work on the priority
procedures (§ 25a, § 25b, § 104c, naturalisation) and on KIM clients' applications first.

Everything random comes from one ``random.Random(seed)``; ids are counters plus a tag drawn
from it; times come from the simulated calendar. So the same config gives the same events.

The modules, each importing only those above it:

- ``context``: the config, the random stream, calendar and engine every part shares; ``Weighted``
- ``records``: ``Manager``, ``Pool``, ``Consent``, ``Case``, ``Application``
- ``caseload``: case managers, waiting lists, closing a case
- ``consent``: the consents a case's referrals and hand-overs need
- ``offices``: the immigration and naturalisation offices and their applications
- ``referrals``: the work on a goal — referrals to partner agencies, applications at the offices
- ``needs``: a client's needs, the goals chosen, the Rechtskreise
- ``cases``: the case and its lifecycle
- ``dortmund``: ``DortmundModel``, which wires the parts and starts the arrivals
"""

from __future__ import annotations

from simulation.model.dortmund import DortmundModel

__all__ = ["DortmundModel"]
