"""How the docs test reads a page: blocks, directives, commands over several lines, and shown output."""

from __future__ import annotations

from pathlib import Path

from tests.integration.docs_blocks import blocks, commands, missing_output

PAGE = """# A page

<!-- docs-test: not run (it would recurse) -->
```sh
./kim test
```

- in a list:

  ```console
  $ kim agency add JOBCENTER | tee jc.secrets
  agency JOBCENTER added. …
    Kafka username   agency-jobcenter
  $ curl -s localhost:8088/v1/events \\
      -d '{"event_type": "CaseClosed",
           "payload": {}}'
  {"event_id": "…"}
  ```

<!-- docs-test: exit 1 -->

```bash
kim dlq show 9:9   # no such letter
```

```text
a diagram
```

```python
def f():
    return 1
```
"""


def test_blocks_with_their_language_line_directive_and_indentation(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    found = blocks(page, "docs/page.md")
    lines = [(b.language, b.line) for b in found]
    assert lines == [("sh", 4), ("console", 10), ("bash", 22), ("text", 26), ("python", 30)]
    assert found[0].not_run == "it would recurse" and found[0].problem() is None
    assert found[1].text.startswith("$ kim agency add") and found[1].exit_code == 0
    assert found[2].exit_code == 1
    assert "not a language the docs test runs" in found[3].problem()
    assert found[4].text == "def f():\n    return 1"  # indentation inside the block is kept


def test_console_commands_span_lines_and_carry_the_output_shown_below_them(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    add, curl = commands(blocks(page, "docs/page.md")[1])
    assert add.line == 11 and add.text == "kim agency add JOBCENTER | tee jc.secrets"
    assert add.shown == ("agency JOBCENTER added. …", "  Kafka username   agency-jobcenter")
    assert curl.line == 14 and curl.text.count("\n") == 2 and curl.shown == ('{"event_id": "…"}',)
    (show,) = commands(blocks(page, "docs/page.md")[2])
    assert show.text == "kim dlq show 9:9   # no such letter"


def test_shown_output_must_appear_in_order_with_ellipses_and_any_whitespace() -> None:
    output = "header\ncaseload    up (pid 42)   0  1 (6 partitions)\nbacklog  up (pid 43)  0\nKIM platform is down\n"
    assert missing_output(("caseload up (pid …) 0", "…", "KIM platform is down"), output) is None
    assert missing_output(("KIM platform is down", "caseload up (pid …) 0"), output) == "caseload up (pid …) 0"
    assert missing_output(("referrals up",), output) == "referrals up"
