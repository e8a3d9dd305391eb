"""The `kim` command line. Every user mistake or missing service ends in one `error:` line, exit 1.

Parser and dispatch come from the table in ``cli/commands.py``. Only the command named on the command line
gets its arguments, and only its module is imported: ``kim --help`` lists the commands from the table alone,
``kim COMMAND --help`` loads that one command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli.commands import BY_NAME, COMMANDS
from infra.settings import load_settings


def parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The `kim` parser, with the arguments of the command ``argv`` names (the others' are not needed)."""
    parser = argparse.ArgumentParser(prog="kim", description="KIM partner network: event-sourced projections.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    named = _named(argv)
    for command in COMMANDS:
        command_parser = sub.add_parser(command.name, help=command.help)
        if command.name == named:
            command.load().add_arguments(command_parser)
    return parser


def _named(argv: Sequence[str]) -> str | None:
    """The first word that is not an option: `kim` itself has no option that takes a value."""
    return next((word for word in argv if not word.startswith("-")), None)


def run(argv: Sequence[str]) -> int:
    args = parser(argv).parse_args(argv)
    settings = load_settings()
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return BY_NAME[args.command].load().run(settings, args)


def main() -> None:
    try:
        sys.exit(run(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as why:
        from cli.error_line import error_line  # loads Kafka's and PostgreSQL's clients: only once something failed

        message = error_line(why)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
