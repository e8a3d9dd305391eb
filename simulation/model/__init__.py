"""The Dortmund KIM network as processes on the discrete-event engine; ``DortmundModel`` wires them."""

from __future__ import annotations

from simulation.model.dortmund import DortmundModel

__all__ = ["DortmundModel"]
