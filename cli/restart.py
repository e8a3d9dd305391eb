"""`kim restart [SERVICE…]`: `kim down` then `kim up` of the services named (none named: everything).

Restarting Kafka or PostgreSQL alone leaves the other service and the workers running; the workers reconnect.
"""

from __future__ import annotations

import argparse

from cli.args import add_services
from infra import bringup
from infra.services import are_up, everything, start_order
from infra.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_services(parser, "restart")


def run(settings: Settings, args: argparse.Namespace) -> int:
    services = start_order(args.services)
    bringup.restart(settings, services=services)
    print("KIM platform is up" if everything(services) else are_up(services))
    return 0
