"""Contract agreements signed by both parties (wip)."""

from __future__ import annotations

__all__ = ["SignedAgreement"]


class SignedAgreement:
    """Placeholder until signed agreements land."""
