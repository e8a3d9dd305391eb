"""Case managers and their waiting lists: a case gets the case manager with the most room or waits — urgent
cases first, then first come — and a client who waits too long gives up. Closing a case frees its case manager
for the next one on the list; a case rests while paused (``act`` waits for the resumption).
"""

from __future__ import annotations

import heapq

import simulation.parameters as P
from simulation.calendar import DAY
from simulation.engine import Process
from simulation.model.context import Context, Weighted
from simulation.model.records import ACTIVE, ASSIGNED, CLOSED, WAITING, Case, Manager, Pool


class Caseload:
    """The case-management agencies' case managers and waiting lists, and the changes of a case's state."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.rng = ctx.rng
        self.cal = ctx.cal
        self.engine = ctx.engine
        self.queue_seq = 0  # first come, first served: the order clients join a waiting list
        self._renege_reasons = Weighted(P.RENEGE_REASONS)
        self.pools = self._make_pools()

    def _make_pools(self) -> dict[str, Pool]:
        """Each employer's share of the posts, scaled; a post carries ``caseload_per_post`` cases."""
        c = self.config
        pools = {}
        for agency, share in P.CASE_MANAGER_EMPLOYERS.items():
            posts = c.case_management_posts * share * c.scale
            slots = round(posts * c.caseload_per_post)
            count = max(1, round(posts)) if slots else 0
            prefix = P.CASE_MANAGER_REF_PREFIX[agency]
            managers = [
                Manager(f"{prefix}-{i + 1:03d}", slots // count + (1 if i < slots % count else 0)) for i in range(count)
            ]
            pools[agency] = Pool(agency, managers)
        if not any(p.slots for p in pools.values()):  # a tiny scale still has one case manager with one case
            pools["KIM_CASE_MANAGEMENT"] = Pool("KIM_CASE_MANAGEMENT", [Manager("CM-DO-001", 1)])
        return pools

    def get_manager(self, case: Case, patience: bool) -> Process:
        """Assign a free case manager, or join the waiting list until one is free; False if the case was closed
        meanwhile (a client who gives up waiting is closed by ``_renege`` and this process never resumes)."""
        e, rng = self.engine, self.rng
        pool = case.pool
        manager = pool.free_manager()
        if manager is not None and not pool.queue:
            manager.load += 1
            case.manager = manager
        else:
            case.state = WAITING
            self.queue_seq += 1
            heapq.heappush(pool.queue, (0 if case.urgent or not patience else 1, self.queue_seq, case))
            if patience:
                wait = int(rng.expovariate(1 / self.config.waiting_patience_days) * DAY) + DAY
                e.spawn(self._renege(case), at=e.now + wait)
            yield None  # woken by _serve once a case manager is free
            yield self.ctx.office_after("manager_pickup")
            if case.state == CLOSED:
                return False
        case.state = ACTIVE
        e.emit(
            case.home,
            "CaseManagerAssigned",
            {"case_id": case.case_id, "case_manager_ref": case.manager.ref, "agency": pool.agency},
        )
        return True

    def _serve(self, pool: Pool) -> None:
        queue = pool.queue
        while queue:
            manager = pool.free_manager()
            if manager is None:
                return
            _, _, case = heapq.heappop(queue)
            if case.state != WAITING:
                continue
            manager.load += 1
            case.manager = manager
            case.state = ASSIGNED
            self.engine.wake(case.main)

    def release(self, case: Case) -> None:
        """The case's case manager lets it go and takes the next case waiting."""
        if case.manager is not None:
            case.manager.load -= 1
            case.manager = None
            self._serve(case.pool)

    def _renege(self, case: Case) -> Process:
        yield self.cal.office(self.engine.now, self.rng)
        if case.state == WAITING:
            self.close(case, self._renege_reasons(self.rng))

    def close(self, case: Case, reason: str) -> None:
        """Close the case now: its case manager is free, its processes end, a client who moved away leaves
        their applications (withdrawn at the office's next step)."""
        closer = case.holder if case.state == WAITING else case.home  # nobody took it: its holder closes it
        self.engine.emit(closer, "CaseClosed", {"case_id": case.case_id, "reason": reason})
        case.state = CLOSED
        self.release(case)
        case.main = None  # break the case ↔ process cycles: no process of a closed case runs again
        case.resume_waiters.clear()
        case.consent_waiters.clear()
        if reason == "MOVED_AWAY":
            for application in case.applications:
                application.moved = True

    def act(self, case: Case, at: int) -> Process:
        """Wait until ``at`` and, if the case rests then, until it is resumed; False once the case is closed."""
        yield at
        while case.paused and case.state != CLOSED:
            case.resume_waiters.append(self.engine.current)
            yield None
        return case.state != CLOSED

    def change_manager(self, case: Case) -> Process:
        """Another case manager of the same agency with room takes the case over (if there is one)."""
        yield self.engine.now
        if case.state != ACTIVE or case.manager is None:
            return
        new = case.pool.free_manager(other_than=case.manager)
        if new is None:
            return
        case.manager.load -= 1
        new.load += 1
        case.manager = new
        self.engine.emit(
            case.home,
            "CaseManagerAssigned",
            {"case_id": case.case_id, "case_manager_ref": new.ref, "agency": case.pool.agency},
        )
