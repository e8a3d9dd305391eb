"""`kim up`: start what is local (Kafka, PostgreSQL), create topics, apply migrations, start the workers."""

from __future__ import annotations

import argparse

from infra import bringup
from infra.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`kim up` takes no arguments."""


def run(settings: Settings, args: argparse.Namespace) -> int:
    bringup.up(settings)
    print("KIM platform is up")
    return 0
