"""The connector: what a participant node needs to take part in a data space.

Being built. Today it holds the node's identity (the data space's certificate authority,
node keys and certificates, revocation) and the tamper-evident audit log; the daemon, its
storage, the catalog, negotiation and jobs follow.
"""

__all__: list[str] = []
