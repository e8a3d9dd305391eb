"""`kim down [SERVICE…]`: stop the workers and the local Kafka and PostgreSQL — or only the services named."""

from __future__ import annotations

import argparse

from cli.args import add_services
from infra import bringup
from infra.services import everything, stop_order
from infra.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_services(parser, "stop")


def run(settings: Settings, args: argparse.Namespace) -> int:
    services = stop_order(args.services)
    bringup.down(settings, services=services)
    if everything(services):  # some services: each said its own line (stopped, not running, not run by kim)
        print("KIM platform is down")
    return 0
