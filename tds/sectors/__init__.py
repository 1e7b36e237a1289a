"""Sector packs for the ocean, healthcare and power data spaces.

For now each module holds the sector's usage-policy templates: functions that return a
:class:`tds.policy.Policy` expressing the sector's usual "one scenario, one authorization" terms.
A template returns an Offer; give ``assignee`` to get the Agreement for one consumer instead.
"""

from tds.sectors import healthcare, ocean, power

__all__ = ["healthcare", "ocean", "power"]
