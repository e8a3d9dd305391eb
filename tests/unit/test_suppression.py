"""Small-cell suppression: primary (1..threshold hidden) and secondary (no hidden cell recoverable from totals)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.suppression import (
    TOTAL,
    Cell,
    SuppressionConfigError,
    protect,
    recoverable,
    small_cell_max,
    suppress_column,
    suppress_count,
    suppress_table,
    table_lines,
)

counts = st.one_of(st.integers(0, 6), st.integers(0, 400))
matrices = st.integers(1, 6).flatmap(
    lambda cols: st.lists(st.lists(counts, min_size=cols, max_size=cols), min_size=1, max_size=6)
)


def _grid(table):
    """The table as shown: {(r, c): Cell} with totals at r == rows / c == cols."""
    rows, cols = len(table.cells), len(table.col_keys)
    grid = {(r, c): table.cells[r][c] for r in range(rows) for c in range(cols)}
    grid.update({(r, cols): table.row_totals[r] for r in range(rows)})
    grid.update({(rows, c): table.col_totals[c] for c in range(cols)})
    grid[(rows, cols)] = table.grand_total
    return grid, rows, cols


def _exact(matrix):
    rows, cols = len(matrix), len(matrix[0])
    exact = {(r, c): matrix[r][c] for r in range(rows) for c in range(cols)}
    exact.update({(r, cols): sum(matrix[r]) for r in range(rows)})
    exact.update({(rows, c): sum(row[c] for row in matrix) for c in range(cols)})
    exact[(rows, cols)] = sum(map(sum, matrix))
    return exact


def test_primary_suppression_hides_one_to_four_only():
    assert [suppress_count(n).suppressed for n in range(7)] == [False, True, True, True, True, False, False]
    assert suppress_count(3) == Cell(None, True, True)
    assert suppress_count(0).value == 0
    assert suppress_count(3).text() == "<5"
    assert suppress_count(7, threshold=9).text(9) == "<10"


def test_threshold_from_environment():
    assert small_cell_max({}) == 4
    assert small_cell_max({"KIM_SMALL_CELL_MAX": "9"}) == 9
    with pytest.raises(SuppressionConfigError, match="below 4"):
        small_cell_max({"KIM_SMALL_CELL_MAX": "2"})
    with pytest.raises(SuppressionConfigError, match="not a whole number"):
        small_cell_max({"KIM_SMALL_CELL_MAX": "four"})


def test_secondary_suppression_in_a_row_with_a_total():
    # 3 alone would be 120 - 50 - 67; the next-smallest cell (50) is hidden with it.
    cells = suppress_column({"a": 3, "b": 50, "c": 67}, 120)
    assert cells["a"] == Cell(None, True, True)
    assert cells["b"] == Cell(None, True, False)
    assert cells["c"] == Cell(67, False)
    assert cells[TOTAL] == Cell(120, False)


def test_secondary_suppression_prefers_non_zero_cells():
    # hiding the 0 next to the 2 would let "the two hidden cells add up to 2" give both away
    cells = suppress_column({"a": 2, "b": 0, "c": 30, "d": 40}, 72)
    assert cells["b"] == Cell(0, False)
    assert cells["c"].suppressed and not cells["c"].primary


def test_secondary_suppression_iterates_across_rows_and_columns():
    table = suppress_table([[3, 10, 20], [40, 50, 60]])
    grid, rows, cols = _grid(table)
    hidden = {k for k, cell in grid.items() if cell.suppressed}
    # 3 forces the 10 in its row; then column 0 and column 1 each hold one hidden cell and cascade
    assert (0, 0) in hidden and (0, 1) in hidden
    assert (1, 0) in hidden and (1, 1) in hidden
    assert not recoverable(_exact([[3, 10, 20], [40, 50, 60]]), hidden, table_lines(rows, cols))


def test_a_small_total_is_hidden_and_protected():
    table = suppress_table([[2, 0], [0, 0]])
    assert table.grand_total.suppressed and table.row_totals[0].suppressed and table.cells[0][0].suppressed


@settings(max_examples=400, deadline=None)
@given(matrices, st.integers(4, 9))
def test_no_primary_small_cell_is_shown(matrix, threshold):
    grid, _, _ = _grid(suppress_table(matrix, threshold))
    for key, value in _exact(matrix).items():
        if 1 <= value <= threshold:
            assert grid[key].suppressed and grid[key].value is None
        if not grid[key].suppressed:
            assert grid[key].value == value


@settings(max_examples=400, deadline=None)
@given(matrices, st.integers(4, 9))
def test_no_suppressed_cell_can_be_recomputed_from_its_row_or_column(matrix, threshold):
    """For every line (a row with its row total, a column with its column total) that holds a hidden cell,
    the shown cells and the total leave at least two unknowns: subtraction yields only their sum."""
    grid, rows, cols = _grid(suppress_table(matrix, threshold))
    for line in table_lines(rows, cols):
        hidden = [k for k in line if grid[k].suppressed]
        assert len(hidden) != 1, f"{hidden[0]} = total - shown cells in line {line}"


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=3).filter(lambda k: k != TOTAL),
        st.one_of(st.none(), counts),
        min_size=1,
        max_size=8,
    )
)
def test_a_column_with_unknown_hidden_values_stays_protected(values):
    total = None if any(v is None for v in values.values()) else sum(values.values())
    cells = suppress_column(values, total)
    hidden = [k for k, c in cells.items() if c.suppressed]
    assert len(hidden) != 1
    assert all(cells[k].suppressed for k, v in values.items() if v is None or 1 <= v <= 4)


def test_protect_reports_primary_and_secondary_apart():
    primary, secondary = protect({"a": 1, "b": 9, "t": 10}, [["a", "b", "t"]], totals=["t"])
    assert primary == {"a"} and secondary == {"b"}


def _compositions(total: int, k: int):
    if k == 0:
        if total == 0:
            yield ()
        return
    if k == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, k - 1):
            yield (first, *rest)


def _completions(table, bound: int):
    """Every table of non-negative whole numbers that agrees with what is shown (all hidden cells look alike)."""
    rows, cols = len(table.cells), len(table.col_keys)

    def shown(cell):
        return None if cell.suppressed else cell.value

    options = []
    for r in range(rows):
        known = [shown(c) for c in table.cells[r]]
        hidden = [i for i, v in enumerate(known) if v is None]
        total = shown(table.row_totals[r])
        rest = sum(v for v in known if v is not None)
        sums = [total - rest] if total is not None else range(bound + 1)
        row_options = []
        for s in sums:
            for values in _compositions(s, len(hidden)) if s >= 0 else ():
                row = list(known)
                for i, v in zip(hidden, values, strict=True):
                    row[i] = v
                row_options.append(tuple(row))
        options.append(row_options)
    for combo in itertools.product(*options):
        col_sums = [sum(combo[r][c] for r in range(rows)) for c in range(cols)]
        if any(shown(table.col_totals[c]) not in (None, col_sums[c]) for c in range(cols)):
            continue
        if shown(table.grand_total) not in (None, sum(col_sums)):
            continue
        yield combo, col_sums


small_values = st.sampled_from([0, 0, 1, 2, 3, 5, 6, 9])
small_matrices = st.one_of(  # small enough to enumerate every completion: 2 x 2, or one row of 3
    st.lists(st.lists(small_values, min_size=2, max_size=2), min_size=1, max_size=2),
    st.lists(small_values, min_size=1, max_size=3).map(lambda row: [row]),
)


@settings(max_examples=150, deadline=None)
@given(small_matrices)
def test_no_hidden_cell_is_pinned_by_all_the_totals_together(matrix):
    """Stronger than line by line: an attacker who solves every row, column and grand total at once for
    non-negative whole numbers still finds at least two possible values for every hidden cell and total."""
    table = suppress_table(matrix)
    rows, cols = len(matrix), len(matrix[0])
    possible: dict[tuple, set[int]] = {}
    bound = sum(map(sum, matrix)) + 3  # a cap on unknown totals: it can only make the test stricter
    for combo, col_sums in _completions(table, bound):
        for r in range(rows):
            for c in range(cols):
                if table.cells[r][c].suppressed:
                    possible.setdefault(("cell", r, c), set()).add(combo[r][c])
            if table.row_totals[r].suppressed:
                possible.setdefault(("row", r), set()).add(sum(combo[r]))
        for c in range(cols):
            if table.col_totals[c].suppressed:
                possible.setdefault(("column", c), set()).add(col_sums[c])
        if table.grand_total.suppressed:
            possible.setdefault(("grand",), set()).add(sum(col_sums))
    assert {key: values for key, values in possible.items() if len(values) < 2} == {}


def test_partner_choice_follows_the_documented_order():
    """The order analytics.protect (migration 0090) repeats in SQL: a non-total before a total, a non-zero
    before a zero, the smaller count, then the earlier cell of the line."""
    line = ["a", "zero", "b", "c", "t"]
    _, secondary = protect({"a": 2, "zero": 0, "b": 7, "c": 7, "t": 16}, [line], totals=["t"])
    assert secondary == {"b"}
    _, secondary = protect({"a": 2, "zero": 0, "t": 9}, [["a", "zero", "t"]], totals=["t"])
    assert secondary == {"zero"}  # a zero rather than the total, when nothing else is left
    _, secondary = protect({"a": 2, "t": 9}, [["a", "t"]], totals=["t"])
    assert secondary == {"t"}
