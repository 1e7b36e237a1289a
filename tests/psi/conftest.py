from __future__ import annotations

import json
from pathlib import Path

import pytest

import tds

# The shared vectors sit beside the repository: <repo>/../shared/vectors, here and in CI.
VECTORS = Path(__file__).parents[2].parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def rfc9380_vectors() -> dict:
    return json.loads((VECTORS / "rfc9380_curve25519_xmd_sha512_ell2_ro.json").read_text())


@pytest.fixture(scope="session", params=["paillier", "ou"])
def sum_key(request) -> tds.he.PrivateKey | tds.he.OUPrivateKey:
    """A small key of each scheme: the protocol does not depend on its size or scheme, and
    tests stay fast."""
    return tds.he.generate_keypair(1024, scheme=request.param, insecure=True)[1]
