"""The immigration and naturalisation offices (building block 3): applications and the offices' daily work.

Applications arrive with a seasonal peak after summer, plus those filed for KIM clients with a residence goal
(linked by case_id). An application is reviewed, documents are asked for and come (late, in part or not at
all), an interview may follow, then the decision and the appointment to hand over the permit; it may be
withdrawn on the way. Each office works a limited number of steps a day (first review, review of documents
received, decision) — fewer in the summer and Christmas breaks — so a backlog builds when the inflow exceeds
the capacity and drains when it falls below. The KIM posts work on the priority procedures (§ 25a, § 25b,
§ 104c, naturalisation) and on KIM clients' applications first.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from typing import Any

import simulation.parameters as P
from simulation.calendar import DAY, HOUR
from simulation.engine import Process
from simulation.model.context import Context, Weighted
from simulation.model.records import Application, Case

OFFICES = (P.IMMIGRATION_OFFICE, P.NATURALISATION_OFFICE)
OFFICE_PREFIX = {P.IMMIGRATION_OFFICE: "ABH", P.NATURALISATION_OFFICE: "EBH"}


class Office:
    """One office's work queues and daily capacity (regular clerks and KIM posts, in steps per day)."""

    def __init__(self, agency: str, regular: float, kim: float) -> None:
        self.agency = agency
        self.regular = regular
        self.kim = kim
        self.priority: deque[tuple[int, Application, Process]] = deque()
        self.standard: deque[tuple[int, Application, Process]] = deque()
        self.carry_regular = 0.0
        self.carry_kim = 0.0


class Offices:
    """Both offices: their queues and capacity, the applications' processes and the offices' working days."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = c = ctx.config
        self.rng = ctx.rng
        self.cal = cal = ctx.cal
        self.engine = ctx.engine
        self.queue_seq = 0  # first come, first served: the order files join a queue
        self.staff = [
            c.christmas_capacity if xmas else c.summer_capacity if summer else 1.0
            for xmas, summer in zip(cal.christmas, cal.summer, strict=True)
        ]
        self._withdrawal = Weighted(P.WITHDRAWAL_REASONS)
        self._channels = {p: Weighted(w) for p, w in P.CHANNELS.items()}
        self._procedures = Weighted({p: n * c.immigration_scale for p, n in P.APPLICATIONS_PER_YEAR.items()})
        self.offices = self._make_offices()

    def open(self) -> None:
        """Start both offices' working days."""
        for office in self.offices.values():
            self.engine.spawn(self.working_days(office))

    def _make_offices(self) -> dict[str, Office]:
        """Capacity = ratio × the mean number of work steps a normal working day brings (split by office)."""
        c = self.config
        per_day = 365.2425 * 5 / 7 - 11  # working days a year (weekdays minus NRW holidays on weekdays)
        workload = {office: 0.0 for office in OFFICES}
        priority = {office: 0.0 for office in OFFICES}
        per_year = {p: n * c.immigration_scale for p, n in P.APPLICATIONS_PER_YEAR.items()}
        kim_clients = {p: 0.0 for p in per_year}  # applications filed for KIM clients (residence goals)
        for group, mix in P.CASE_PROCEDURES.items():
            share = P.NEWCOMER_SHARE if group == "NEWCOMER" else 1 - P.NEWCOMER_SHARE
            for procedure, weight in mix.items():
                kim_clients[procedure] += (
                    c.case_inflow_per_year * P.KIM_CLIENT_APPLICATIONS_PER_CASE * share * weight / sum(mix.values())
                )
        for procedure, n in per_year.items():
            steps = 2 + P.DOCUMENTS_NEEDED[procedure] * 1.2  # review, decision; document reviews
            office = P.OFFICE_OF.get(procedure, P.IMMIGRATION_OFFICE)
            general = n * steps / per_day * c.scale
            clients = kim_clients[procedure] * steps / per_day * c.scale
            workload[office] += general + clients
            priority[office] += clients + (general if procedure in P.KIM_PRIORITY_PROCEDURES else 0.0)
        kim_total = c.kim_office_posts * c.files_per_clerk_day * c.scale
        priority_total = sum(priority.values()) or 1.0
        offices = {}
        for office in OFFICES:
            kim = kim_total * priority[office] / priority_total
            regular = max(0.0, c.office_capacity_ratio * workload[office] - kim)
            offices[office] = Office(office, regular, kim)
        return offices

    def new_application(self, t: int) -> bool:
        """An application arrives at ``t`` and is filed by its channel; True: the arrivals go on."""
        rng = self.rng
        procedure = self._procedures(rng)
        if procedure == "AUFENTHG_104C" and self.cal.date_of(t) > P.CHANCEN_LAST_DAY:
            return True
        channel = self._channels.get(procedure, self._channels["default"])(rng)
        at = t if channel in ("ONLINE", "EMAIL") else self.cal.office(t, rng)
        office = P.OFFICE_OF.get(procedure, P.IMMIGRATION_OFFICE)
        self.engine.spawn(self._filing(procedure, self.ctx.pseudonym(), None, office, channel), at=at)
        return True

    def _filing(self, procedure: str, client_ref: str, case: Case | None, office: str, channel: str) -> Process:
        yield self.engine.now
        self.file(procedure, client_ref, case, office, channel)

    def file(
        self, procedure: str, client_ref: str, case: Case | None, office: str, channel: str | None = None
    ) -> Application:
        """File an application now (for ``case``'s client, if given) and start its process."""
        rng = self.rng
        application = Application(self.ctx.next_number(OFFICE_PREFIX[office]), office, procedure, client_ref, case)
        if case is not None:
            case.applications.append(application)
        if channel is None:
            channel = "IN_PERSON" if self.ctx.chance("kim_client_files_in_person") else "ONLINE"
        self.engine.emit(
            office,
            "ApplicationFiled",
            {
                "application_id": application.application_id,
                "client_ref": client_ref,
                "procedure": procedure,
                "channel": channel,
                "case_id": case.case_id if case is not None else None,
            },
        )
        self.engine.spawn(self._application(application))
        if rng.random() < self.config.application_withdrawal_share:
            self.engine.spawn(
                self._withdraw_application(application), at=self.ctx.office_after("application_withdrawal")
            )
        return application

    def _ended(self, application: Application, result: str) -> None:
        application.done = result
        if application.waiter is not None:
            self.engine.wake(application.waiter)
            application.waiter = None

    def _gone(self, application: Application) -> bool:
        """True when the procedure has ended; a client who moved away withdraws at the next step."""
        if application.done:
            return True
        if application.moved:
            self._emit_app(application, "ApplicationWithdrawn", reason="MOVED_AWAY")
            self._ended(application, "WITHDRAWN")
            return True
        return False

    def _emit_app(self, application: Application, event_type: str, **fields: Any) -> None:
        self.engine.emit(application.office, event_type, {"application_id": application.application_id, **fields})

    def _step(self, application: Application) -> Process:
        """Queue for the office's next free clerk; continues when the file is worked on."""
        office = self.offices[application.office]
        self.queue_seq += 1
        queue = office.priority if application.priority else office.standard
        queue.append((self.queue_seq, application, self.engine.current))
        yield None

    def _application(self, application: Application) -> Process:
        e, rng = self.engine, self.rng
        procedure = application.procedure
        yield from self._step(application)  # first review
        if self._gone(application):
            return
        request: list[str] = []
        if rng.random() < P.DOCUMENTS_NEEDED[procedure]:
            kinds = P.DOCUMENTS[procedure]
            request = sorted(rng.sample(kinds, rng.randint(1, min(4, len(kinds)))), key=kinds.index)
        while request:
            due_days = P.DOCUMENTS_DUE_DAYS.get(procedure, P.DOCUMENTS_DUE_DAYS["default"])
            self._emit_app(
                application, "DocumentsRequested", documents=request, due_by=self.ctx.today() + timedelta(days=due_days)
            )
            due = (e.now // DAY + due_days) * DAY
            u = rng.random()
            never, late = P.SHARES["documents_never_come"], P.SHARES["documents_late"]
            if u < never:  # nothing comes: refused for lack of cooperation
                yield self.cal.office(due + self.ctx.days(*P.DAYS["documents_refused"]), rng)
                if self._gone(application):
                    return
                self._emit_app(application, "DecisionIssued", outcome="REFUSED")
                self._ended(application, "REFUSED")
                return
            if u < never + late:
                yield e.now + max(due - e.now, 0) + self.ctx.days(*P.DAYS["documents_late"])
            else:
                lo, hi = P.DAYS["documents_back"]
                yield e.now + self.ctx.days(lo, min(hi, due_days - 1))
            yield self.cal.office(e.now, rng)
            if self._gone(application):
                return
            partial = len(request) > 1 and self.ctx.chance("documents_partial")
            received = request[: rng.randint(1, len(request) - 1)] if partial else request
            self._emit_app(application, "DocumentsReceived", documents=list(received))
            yield from self._step(application)  # a clerk reviews what came in
            if self._gone(application):
                return
            request = request[len(received) :]
        self._emit_app(application, "ApplicationCompleted")
        if rng.random() < P.INTERVIEW_SHARE.get(procedure, 0.0):
            yield self._appointment(application, *P.APPOINTMENT_DAYS["interview"])
            if self._gone(application):
                return
        yield from self._step(application)  # decision
        if self._gone(application):
            return
        application.done = "DECIDED"  # no withdrawal any more
        if rng.random() >= P.GRANT_RATE[procedure]:
            self._emit_app(application, "DecisionIssued", outcome="REFUSED")
            self._ended(application, "REFUSED")
            return
        self._emit_app(application, "DecisionIssued", outcome="GRANTED")
        yield self.ctx.office_after("decision_to_appointment")
        while True:
            yield self._appointment(application, *P.APPOINTMENT_DAYS["hand_over"])
            if not self.ctx.chance("missed_appointment"):
                break
            yield self.ctx.office_after("missed_appointment")
        span = P.PERMIT_DAYS[procedure]
        valid_until = None if span is None else self.ctx.today() + timedelta(days=rng.randint(*span))
        self._emit_app(application, "PermitHandedOver", valid_until=valid_until)
        self._ended(application, "GRANTED")

    def _appointment(self, application: Application, lo: int, hi: int) -> int:
        """Schedule an appointment ``lo``–``hi`` days ahead (a 30-minute slot); returns its time."""
        day = self.engine.now // DAY + self.rng.randint(lo, hi)
        at = self.cal.working_day_start(day) + 30 * 60 * self.rng.randrange(15)
        self._emit_app(application, "AppointmentScheduled", appointment_at=self.cal.utc(at))
        return at

    def _withdraw_application(self, application: Application) -> Process:
        yield self.engine.now
        if application.done:
            return
        reason = self._withdrawal(self.rng)
        self._emit_app(application, "ApplicationWithdrawn", reason=reason)
        self._ended(application, "WITHDRAWN")
        if reason == "OTHER_PROCEDURE_CHOSEN":
            procedure = P.SWITCH_TO[application.procedure]
            office = P.OFFICE_OF.get(procedure, P.IMMIGRATION_OFFICE)
            process = self._filing(procedure, application.client_ref, application.case, office, "IN_PERSON")
            self.engine.spawn(process, at=self.ctx.office_after("procedure_switch"))

    def working_days(self, office: Office) -> Process:
        """Each working day the office works ``capacity`` files from its queues, spread over office hours."""
        e, cal = self.engine, self.cal
        day = 0
        while True:
            start = cal.working_day_start(day)
            if start >= cal.end:
                return
            yield start
            day = start // DAY
            factor = self.staff[day]
            office.carry_kim += office.kim * factor
            office.carry_regular += office.regular * factor
            kim, office.carry_kim = divmod(office.carry_kim, 1.0)
            regular, office.carry_regular = divmod(office.carry_regular, 1.0)
            picked = self._take(office, int(kim), kim_lane=True) + self._take(office, int(regular), kim_lane=False)
            if picked:
                spacing = (P.OFFICE_CLOSES_H - P.OFFICE_OPENS_H) * HOUR // (len(picked) + 1)
                for i, process in enumerate(picked):
                    e.wake(process, at=start + spacing * (i + 1))
            day += 1

    def _take(self, office: Office, n: int, kim_lane: bool) -> list[Process]:
        """Up to ``n`` live files: the KIM lane takes the priority queue first, regular clerks the oldest file."""
        picked: list[Process] = []
        priority, standard = office.priority, office.standard
        while len(picked) < n and (priority or standard):
            if kim_lane:
                queue = priority or standard
            elif priority and standard:
                queue = priority if priority[0][0] < standard[0][0] else standard
            else:
                queue = priority or standard
            _, application, process = queue.popleft()
            if not application.done:
                picked.append(process)
        return picked
