"""Every domain-rule violation of one schema-valid event: the compiled check first, the rules when it says no.

Nearly every event passes, so a yes/no check compiled once per type (``fast_rules``) answers first; only an
event it does not pass is judged again by the rules (``rules.rule_errors``), which name each problem. A
hypothesis test holds the two to the same answers (tests/unit/test_fast_rules.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.fast_rules import compile_passes
from schemas.rules import known_type, rule_errors

Passes = Callable[[dict[str, Any], dict[str, Any]], bool]
_PASSES: dict[str, Passes] = {}


def domain_errors(event_type: str, envelope: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """Every domain-rule violation of one schema-valid event, as ``path: reason`` strings."""
    try:
        if (_PASSES.get(event_type) or _passes_of(event_type))(envelope, payload):
            return []
    except Exception:  # a shape the check did not foresee: the rules decide (and raise) as before
        pass
    return rule_errors(event_type, envelope, payload)


def _passes_of(event_type: str) -> Passes:
    """The compiled yes/no check of a type (an unknown type's never passes, and is not kept)."""
    passes = compile_passes(event_type)
    if known_type(event_type):
        _PASSES[event_type] = passes
    return passes
