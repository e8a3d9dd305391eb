"""`kim down`: stop the workers and the local Kafka and PostgreSQL."""

from __future__ import annotations

import argparse

from infra import bringup
from infra.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`kim down` takes no arguments."""


def run(settings: Settings, args: argparse.Namespace) -> int:
    bringup.down(settings)
    print("KIM platform is down")
    return 0
