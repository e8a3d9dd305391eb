"""The records the processes share and change: case managers, an agency's waiting list, consents, cases and
applications (a case holds the applications filed for it and an application its case, so they live together).
"""

from __future__ import annotations

from datetime import date

import simulation.parameters as P
from simulation.engine import Process

# A case's state: on the waiting list, given a case manager (not yet picked up), worked on, closed.
WAITING, ASSIGNED, ACTIVE, CLOSED = "waiting", "assigned", "active", "closed"


class Manager:
    """A case manager and the cases they carry."""

    __slots__ = ("capacity", "load", "ref")

    def __init__(self, ref: str, capacity: int) -> None:
        self.ref = ref
        self.capacity = capacity
        self.load = 0


class Pool:
    """The case managers of one agency and its waiting list (urgent cases first, then first come)."""

    def __init__(self, agency: str, managers: list[Manager]) -> None:
        self.agency = agency
        self.managers = managers
        self.queue: list[tuple[int, int, Case]] = []
        self.slots = sum(m.capacity for m in managers)

    def free_manager(self, other_than: Manager | None = None) -> Manager | None:
        """The case manager with the most room (the first of equals), or None if all are full."""
        best, room = None, 0
        for m in self.managers:
            free = m.capacity - m.load
            if free > room and m is not other_than:
                best, room = m, free
        return best


class Consent:
    """A consent the client signed: the agencies it covers, until when, and whether it was withdrawn."""

    __slots__ = ("consent_id", "recipients", "valid_until", "withdrawn")

    def __init__(self, consent_id: str, recipients: list[str], valid_until: date | None) -> None:
        self.consent_id = consent_id
        self.recipients = recipients
        self.valid_until = valid_until
        self.withdrawn = False


class Case:
    """A KIM case: the client, their needs and Rechtskreise, where it is handled and the state of its processes."""

    __slots__ = (
        "achieved",
        "applications",
        "case_id",
        "client_ref",
        "consent_gap",
        "consent_waiters",
        "consents",
        "holder",
        "home",
        "main",
        "manager",
        "narrowed",
        "needs",
        "open_goals",
        "paused",
        "pool",
        "rechtskreise",
        "resume_waiters",
        "seq",
        "state",
        "target_group",
        "urgent",
    )

    def __init__(self, case_id: str, client_ref: str, target_group: str) -> None:
        self.case_id = case_id
        self.client_ref = client_ref
        self.target_group = target_group
        self.rechtskreise: list[str] = []
        self.needs: list[tuple[str, str]] = []
        self.urgent = False
        self.home = ""  # the case-management agency working the case
        self.holder = ""  # the agency holding it on the log: its opener, then the one it was handed over to
        self.pool: Pool | None = None
        self.manager: Manager | None = None
        self.state = WAITING
        self.main: Process | None = None
        self.consents: list[Consent] = []
        self.consent_gap = False
        self.consent_waiters: list[Process] = []
        self.narrowed = False
        self.paused = False
        self.resume_waiters: list[Process] = []
        self.open_goals = 0
        self.achieved = 0
        self.applications: list[Application] = []
        self.seq = {"C": 0, "G": 0, "R": 0}

    def next_id(self, kind: str) -> str:
        """The case's next consent (C), goal (G) or referral (R) id."""
        self.seq[kind] += 1
        return f"{self.case_id}-{kind}{self.seq[kind]}"


class Application:
    """An application at an immigration or naturalisation office; ``done`` is False or how it ended."""

    __slots__ = ("application_id", "case", "client_ref", "done", "moved", "office", "priority", "procedure", "waiter")

    def __init__(self, application_id: str, office: str, procedure: str, client_ref: str, case: Case | None) -> None:
        self.application_id = application_id
        self.office = office
        self.procedure = procedure
        self.client_ref = client_ref
        self.case = case
        self.priority = case is not None or procedure in P.KIM_PRIORITY_PROCEDURES
        self.done: bool | str = False
        self.moved = False
        self.waiter: Process | None = None
