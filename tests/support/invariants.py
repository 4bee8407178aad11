"""The invariant checker, shared with ``make soak`` (devstack/invariants.py)."""

from devstack.invariants import Outcome, check

__all__ = ["Outcome", "check"]
