"""Secure joins: private set intersection and its variants, over X25519 (ECDH-PSI) or, for the
shared items themselves, over the lightweight OPRF of Chase and Miao (AES and bit operations).

Who is in both tables, how many, and the sum of values over the shared rows, without
revealing the rows outside the intersection::

    import tds
    r = tds.psi.run_local(hospital_ids, insurer_ids, mode="intersection")     # r.items, r.size
    r = tds.psi.run_local(hospital_ids, insurer_ids, mode="cardinality")      # r.size
    r = tds.psi.run_local(hospital_ids, insurer_ids, mode="sum", right_values=claims)  # r.sum

:class:`LeftParty` and :class:`RightParty` are the ECDH protocol as transport-free state
machines exchanging the message classes below, :class:`OprfLeftParty` and
:class:`OprfRightParty` the OPRF protocol (modes intersection and both); ``run_local`` picks
one with ``protocol=`` (``auto`` by default). :class:`BucketedLeftParty` and
:class:`BucketedRightParty` split large sets into buckets by a keyed hash and join each
bucket with either protocol (``run_local`` does so above :data:`BUCKET_ITEMS` items).
``docs/protocol.md`` has the message flows, what each party learns and the threat model;
``docs/scale-out.md`` the buckets and executors.
"""

from tds.progress import Progress
from tds.psi._buckets import BUCKET_ITEMS, BucketedLeftParty, BucketedRightParty
from tds.psi._hash_to_curve import hash_to_curve
from tds.psi._items import encode_item
from tds.psi._local import OPRF_THRESHOLD, PROTOCOLS, choose_protocol, run_local
from tds.psi._messages import (
    BucketMessage,
    BucketPlan,
    BucketSetup,
    EncryptedSum,
    LeftDigests,
    LeftPoints,
    MatchBitmap,
    Message,
    OprfColumns,
    OprfOutputs,
    OprfReply,
    OprfSetup,
    RightKey,
    RightPoints,
    decode_message,
)
from tds.psi._oprf_parties import OPRF_MODES, OprfLeftParty, OprfRightParty
from tds.psi._parties import DEFAULT_CHUNK_SIZE, LeftParty, RightParty
from tds.psi._result import Disclosure, Mode, PsiResult, Revealed

# Sorted as Python sorts text (tests/test_package.py checks), not isort-style.
__all__ = [  # noqa: RUF022
    "BUCKET_ITEMS",
    "BucketMessage",
    "BucketPlan",
    "BucketSetup",
    "BucketedLeftParty",
    "BucketedRightParty",
    "DEFAULT_CHUNK_SIZE",
    "Disclosure",
    "EncryptedSum",
    "LeftDigests",
    "LeftParty",
    "LeftPoints",
    "MatchBitmap",
    "Message",
    "Mode",
    "OPRF_MODES",
    "OPRF_THRESHOLD",
    "OprfColumns",
    "OprfLeftParty",
    "OprfOutputs",
    "OprfReply",
    "OprfRightParty",
    "OprfSetup",
    "PROTOCOLS",
    "Progress",
    "PsiResult",
    "Revealed",
    "RightKey",
    "RightParty",
    "RightPoints",
    "choose_protocol",
    "decode_message",
    "encode_item",
    "hash_to_curve",
    "run_local",
]
