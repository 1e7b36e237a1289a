"""Sector packs for the ocean, healthcare and power data spaces.

Each module holds one sector's parties, the schemas of the datasets they hold
(:class:`~tds.sectors._tables.TableSchema`, which also makes the connector's
:class:`~tds.connector.Dataset`), a seeded synthetic-data generator (``generate``: numpy,
chunked, from a few rows to tens of millions in bounded memory), and the usage-policy
templates the sector agrees on: functions returning a :class:`tds.policy.Policy` for the
sector's usual "one scenario, one authorization" terms. A template returns an Offer; give
``assignee`` to get the Agreement for one consumer instead.
"""

from tds.sectors import healthcare, ocean, power

__all__ = ["healthcare", "ocean", "power"]
