"""The `kim` commands: name, module and one-line help — the one table the parser and the dispatch are built from.

A command's module is imported (by name) only when that command is parsed or run, so ``kim --help`` and a
mistyped command never load Kafka's or PostgreSQL's clients. Every module has the same two functions
(``CommandModule``): ``add_arguments`` fills the command's parser, ``run`` does the command and returns the
exit code. The order here is the order ``kim --help`` lists them in.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from infra.settings import Settings


class CommandModule(Protocol):
    """What every command module offers."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, settings: Settings, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    help: str

    def load(self) -> CommandModule:
        return cast(CommandModule, importlib.import_module(self.module))


COMMANDS: tuple[Command, ...] = (
    Command("up", "cli.up", "start Kafka, PostgreSQL, topics, migrations and projection workers (or some of them)"),
    Command("down", "cli.down", "stop workers, Kafka and PostgreSQL (or some of them; nothing left running)"),
    Command("restart", "cli.restart", "down, then up: everything, or only kafka, postgres or the workers"),
    Command("status", "cli.status", "broker, database, topics; per projection lag, freshness, workers, DLQ"),
    Command("demo", "cli.demo", "bring everything up, publish a realistic batch, print the caseload"),
    Command("simulate", "cli.simulate", "simulate Dortmund's KIM network: JSON lines, or --publish in order"),
    Command("publish", "cli.publish", "publish a JSON Lines file of events (one event per line)"),
    Command("gateway", "cli.gateway", "run the HTTP gateway for partners without a Kafka client"),
    Command("agency", "cli.agency", "agency identities: Kafka login and ACLs, signing key, gateway token"),
    Command("dlq", "cli.dlq", "list, show and re-drive dead letters"),
    Command("query", "cli.query", "analysts' queries with small-cell suppression: caseloads, referrals, backlog"),
    Command(
        "replay", "cli.replay", "rebuild a projection from the log and swap it in, or fold an as-of copy (--until)"
    ),
    Command("report", "cli.report", "the steering indicators for a period at a recorded cut: JSON, CSV and HTML"),
    Command("audit", "cli.audit", "who replayed, re-drove, erased or added what, and when"),
    Command("erase", "cli.erase", "erase one client: destroy its key, make its cases anonymous everywhere"),
    Command("keys", "cli.keys", "rotate the key-encryption key: erased clients' keys in old copies stay unreadable"),
    Command("serve", "cli.serve", "the analysts' read-only HTTP API and dashboard on 127.0.0.1"),
)
BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}
