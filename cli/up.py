"""`kim up [SERVICE…]`: start what is local (Kafka, PostgreSQL), create topics, apply migrations, start the
workers — or only the services named (kafka, postgres, workers)."""

from __future__ import annotations

import argparse

from cli.args import add_services
from infra import bringup
from infra.services import are_up, everything, start_order
from infra.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_services(parser, "start")


def run(settings: Settings, args: argparse.Namespace) -> int:
    services = start_order(args.services)
    bringup.up(settings, services=services)
    print("KIM platform is up" if everything(services) else are_up(services))
    return 0
