import pytest

import tds


@pytest.fixture(scope="session", params=["paillier", "ou"])
def keypair(request) -> tuple:
    """A small key of each scheme: the algebra does not depend on size, and tests stay fast."""
    return tds.he.generate_keypair(1024, scheme=request.param, insecure=True)


@pytest.fixture(scope="session")
def paillier_keypair() -> tuple[tds.he.PublicKey, tds.he.PrivateKey]:
    """A small Paillier key, for what only Paillier has (phe interop, DJN, the CRT)."""
    return tds.he.generate_keypair(1024, insecure=True)


@pytest.fixture(scope="session")
def other_keypair() -> tuple[tds.he.PublicKey, tds.he.PrivateKey]:
    return tds.he.generate_keypair(1024, insecure=True)


@pytest.fixture(scope="session")
def keypair_2048() -> tuple[tds.he.PublicKey, tds.he.PrivateKey]:
    return tds.he.generate_keypair()
