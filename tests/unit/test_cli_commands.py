"""The `kim` command table: every command has a module with the same interface, the parser is built from the
table (loading only the command named), and failures become one `error:` line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli import main
from cli.commands import COMMANDS
from cli.error_line import error_line
from infra.errors import SetupError
from schemas.errors import KimError
from streams.kafka.connection import KafkaLoginError

REPO = Path(__file__).resolve().parents[2]


def test_every_command_is_a_module_of_its_own_name_with_the_interface() -> None:
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)
    for command in COMMANDS:
        assert command.module == f"cli.{command.name}"
        module = command.load()
        assert callable(module.add_arguments) and callable(module.run), command.name


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_each_command_gets_its_arguments_from_its_module(command: str) -> None:
    with pytest.raises(SystemExit) as shown:
        main.parser([command, "--help"]).parse_args([command, "--help"])
    assert shown.value.code == 0


def test_the_parser_knows_every_command_but_loads_only_the_one_named() -> None:
    """``kim --help`` and a typo need no command module: the table alone names the commands."""
    code = (
        "import sys; from cli import main; p = main.parser(['status']); "
        "print(sorted(m for m in sys.modules if m.startswith('cli.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "['cli.commands', 'cli.main', 'cli.status', 'cli.status_view']"
    top = subprocess.run([sys.executable, "-m", "cli.main", "--help"], cwd=REPO, capture_output=True, text=True)
    assert top.returncode == 0
    listed = [line.split()[0] for line in top.stdout.splitlines() if line.startswith("    ") and line.split()]
    assert [c.name for c in COMMANDS] == [name for name in listed if name in {c.name for c in COMMANDS}]


def test_ours_and_the_refusals_become_one_line_and_a_bug_does_not() -> None:
    assert error_line(SetupError("start it with `kim up`")) == "start it with `kim up`"
    assert error_line(KimError("any error of ours")) == "any error of ours"
    login = error_line(KafkaLoginError("Kafka refused the login"))
    assert login is not None and login.startswith("Kafka refused the login; fix KIM_KAFKA_USERNAME")
    assert error_line(ValueError("a bug")) is None


def test_an_error_of_ours_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def fails(argv: list[str]) -> int:
        raise KimError("the message")

    monkeypatch.setattr(main, "run", fails)
    with pytest.raises(SystemExit) as ended:
        main.main()
    assert ended.value.code == 1
    assert capsys.readouterr().err == "error: the message\n"
