"""Small-cell suppression (docs/domain.md rule 5: aggregates shown to analysts never show counts from 1 to 4).

Pure functions, no I/O.

**Primary suppression:** a count ``n`` with ``1 <= n <= threshold`` is hidden (0 is shown: "nobody"
identifies no one). **Secondary suppression:** a table whose lines carry a total (the cells of a
row plus its row total, a column plus its column total) must never hide exactly one cell of a
line, or the hidden value is the total minus the shown cells. ``protect`` hides, in every line with
exactly one hidden cell, the next-smallest shown cell of that line (preferring non-zero inner
cells, because a hidden zero next to a hidden small count would let the pair's sum give both
away), and repeats until no line has exactly one hidden cell. Totals are cells of the lines too,
so a hidden total is protected the same way.

Cells are identified by any hashable key; a value of ``None`` means the cell is already hidden
and its value is unknown here.

What analysts see is suppressed in SQL: ``analytics.protect`` (migration 0090) is this algorithm, line
for line, applied by every ``analytics`` view and function with totals; `kim query`, the API and the
dashboard read its flags. This module is the reference the property tests prove things about, and
``tests/integration/test_sql_suppression.py`` checks that both hide the same cells on random tables.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from schemas.errors import KimError

DEFAULT_SMALL_CELL_MAX = 4  # docs/domain.md rule 5
ENV = "KIM_SMALL_CELL_MAX"
TOTAL = "ALL"  # the key of a total row or column


class SuppressionConfigError(KimError, ValueError):
    """KIM_SMALL_CELL_MAX is not a whole number of at least 4."""


def small_cell_max(env: Mapping[str, str] | None = None) -> int:
    """The threshold from ``KIM_SMALL_CELL_MAX`` (default 4). It can be raised, never lowered below rule 5's 4."""
    env = os.environ if env is None else env
    text = env.get(ENV, "").strip()
    if not text:
        return DEFAULT_SMALL_CELL_MAX
    try:
        value = int(text)
    except ValueError:
        raise SuppressionConfigError(f"{ENV}={text!r} is not a whole number (e.g. 4 or 9)") from None
    if value < DEFAULT_SMALL_CELL_MAX:
        raise SuppressionConfigError(
            f"{ENV}={value} is below {DEFAULT_SMALL_CELL_MAX}: counts from 1 to 4 must always be suppressed (rule 5)"
        )
    return value


def is_small(count: int | None, threshold: int = DEFAULT_SMALL_CELL_MAX) -> bool:
    """Whether a count must be hidden by primary suppression (``None``: already hidden)."""
    return count is None or 1 <= count <= threshold


@dataclass(frozen=True)
class Cell:
    """A count as shown: ``value`` is ``None`` when ``suppressed``; ``primary`` says it was small itself."""

    value: int | None
    suppressed: bool
    primary: bool = False

    def text(self, threshold: int = DEFAULT_SMALL_CELL_MAX, uniform: bool = False) -> str:
        """``<5`` for a small count; ``x`` for a partner cell, and for every hidden cell when ``uniform``.

        Tables with totals use ``uniform``: telling a small count from its partner would let a reader bound
        both (a ``<5`` and an ``x`` adding up to 6 could only be 1 and 5).
        """
        if not self.suppressed:
            return str(self.value)
        return "x" if uniform or not self.primary else f"<{threshold + 1}"


def suppress_count(count: int | None, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Cell:
    """Primary suppression of one count that stands alone (no total it could be recovered from)."""
    if is_small(count, threshold):
        return Cell(None, True, True)
    return Cell(count, False)


Key = Hashable


def protect(
    values: Mapping[Key, int | None],
    lines: Iterable[Sequence[Key]],
    threshold: int = DEFAULT_SMALL_CELL_MAX,
    totals: Iterable[Key] = (),
) -> tuple[set[Key], set[Key]]:
    """Primary and secondary suppression over ``values``; return (primary, secondary) hidden keys.

    ``lines`` are the groups of keys whose values add up (each line includes its total's key);
    ``totals`` are keys chosen last when a partner cell must be hidden.
    """
    lines = [list(line) for line in lines]
    total_keys = set(totals)
    primary = {k for k, v in values.items() if is_small(v, threshold)}
    hidden = set(primary)
    changed = True
    while changed:
        changed = False
        for line in lines:
            hidden_in_line = [k for k in line if k in hidden]
            if len(hidden_in_line) != 1:
                continue
            shown = [k for k in line if k not in hidden]
            if not shown:
                continue
            partner = min(shown, key=lambda k: _preference(k, values[k], total_keys, line))
            hidden.add(partner)
            changed = True
    return primary, hidden - primary


def _preference(key: Key, value: int | None, totals: set[Key], line: list[Key]) -> tuple[int, int, int, int]:
    v = 0 if value is None else value
    return (key in totals, v == 0, v, line.index(key))


def recoverable(values: Mapping[Key, int | None], hidden: set[Key], lines: Iterable[Sequence[Key]]) -> set[Key]:
    """Hidden keys whose value follows by subtraction: the only hidden cell of some line (what must never happen)."""
    found: set[Key] = set()
    for line in lines:
        hidden_in_line = [k for k in line if k in hidden]
        if len(hidden_in_line) == 1:
            found.add(hidden_in_line[0])
    return found


@dataclass(frozen=True)
class Table:
    """A two-way table of counts with row and column totals, suppressed.

    ``cells[r][c]``, ``row_totals[r]``, ``col_totals[c]`` and ``grand_total`` are ``Cell``s.
    """

    row_keys: list[Key]
    col_keys: list[Key]
    cells: list[list[Cell]]
    row_totals: list[Cell]
    col_totals: list[Cell]
    grand_total: Cell


def table_lines(n_rows: int, n_cols: int) -> list[list[tuple[int, int]]]:
    """The additive lines of an ``n_rows`` x ``n_cols`` table extended by a total row and column.

    Key ``(r, c)``; ``r == n_rows`` is the total row and ``c == n_cols`` the total column.
    """
    lines = [[(r, c) for c in range(n_cols + 1)] for r in range(n_rows + 1)]
    lines += [[(r, c) for r in range(n_rows + 1)] for c in range(n_cols + 1)]
    return lines


def suppress_table(
    matrix: Sequence[Sequence[int]],
    threshold: int = DEFAULT_SMALL_CELL_MAX,
    row_keys: Sequence[Key] | None = None,
    col_keys: Sequence[Key] | None = None,
) -> Table:
    """Suppress a table of exact counts whose row, column and grand totals are shown beside it."""
    n_rows = len(matrix)
    n_cols = len(matrix[0]) if n_rows else 0
    values: dict[tuple[int, int], int | None] = {}
    for r, row in enumerate(matrix):
        if len(row) != n_cols:
            raise ValueError("every row of the table needs the same number of cells")
        for c, v in enumerate(row):
            values[(r, c)] = v
    for r in range(n_rows):
        values[(r, n_cols)] = sum(matrix[r])
    for c in range(n_cols):
        values[(n_rows, c)] = sum(matrix[r][c] for r in range(n_rows))
    values[(n_rows, n_cols)] = sum(sum(row) for row in matrix)
    totals = {k for k in values if k[0] == n_rows or k[1] == n_cols}
    primary, secondary = protect(values, table_lines(n_rows, n_cols), threshold, totals)

    def cell(k: tuple[int, int]) -> Cell:
        if k in primary:
            return Cell(None, True, True)
        if k in secondary:
            return Cell(None, True, False)
        return Cell(values[k], False)

    return Table(
        list(row_keys) if row_keys is not None else list(range(n_rows)),
        list(col_keys) if col_keys is not None else list(range(n_cols)),
        [[cell((r, c)) for c in range(n_cols)] for r in range(n_rows)],
        [cell((r, n_cols)) for r in range(n_rows)],
        [cell((n_rows, c)) for c in range(n_cols)],
        cell((n_rows, n_cols)),
    )


def suppress_column(
    values: Mapping[Key, int | None], total: int | None, threshold: int = DEFAULT_SMALL_CELL_MAX
) -> dict[Key, Cell]:
    """One additive column with its total (key ``TOTAL``); ``None`` values are already hidden."""
    cells: dict[Key, int | None] = dict(values)
    cells[TOTAL] = total
    primary, secondary = protect(cells, [list(cells)], threshold, totals=[TOTAL])
    return {
        k: Cell(None, True, True) if k in primary else Cell(None, True, False) if k in secondary else Cell(v, False)
        for k, v in cells.items()
    }
