"""Secure joins: private set intersection and its variants over X25519 (ECDH-PSI).

Who is in both tables, how many, and the sum of values over the shared rows, without
revealing the rows outside the intersection::

    import tds
    r = tds.psi.run_local(hospital_ids, insurer_ids, mode="intersection")     # r.items, r.size
    r = tds.psi.run_local(hospital_ids, insurer_ids, mode="cardinality")      # r.size
    r = tds.psi.run_local(hospital_ids, insurer_ids, mode="sum", right_values=claims)  # r.sum

:class:`LeftParty` and :class:`RightParty` are the same protocol as transport-free state
machines exchanging the message classes below; ``docs/protocol.md`` has the message flow, what
each party learns and the threat model.
"""

from tds.progress import Progress
from tds.psi._hash_to_curve import hash_to_curve
from tds.psi._items import encode_item
from tds.psi._local import run_local
from tds.psi._messages import (
    EncryptedSum,
    LeftDigests,
    LeftPoints,
    MatchBitmap,
    Message,
    RightKey,
    RightPoints,
    decode_message,
)
from tds.psi._parties import DEFAULT_CHUNK_SIZE, LeftParty, RightParty
from tds.psi._result import Disclosure, Mode, PsiResult, Revealed

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Disclosure",
    "EncryptedSum",
    "LeftDigests",
    "LeftParty",
    "LeftPoints",
    "MatchBitmap",
    "Message",
    "Mode",
    "Progress",
    "PsiResult",
    "Revealed",
    "RightKey",
    "RightParty",
    "RightPoints",
    "decode_message",
    "encode_item",
    "hash_to_curve",
    "run_local",
]
