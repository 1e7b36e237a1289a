import pytest

import tds


@pytest.fixture(scope="session")
def keypair() -> tuple[tds.he.PublicKey, tds.he.PrivateKey]:
    """A small key: the algebra does not depend on size, and tests stay fast."""
    return tds.he.generate_keypair(1024, insecure=True)


@pytest.fixture(scope="session")
def other_keypair() -> tuple[tds.he.PublicKey, tds.he.PrivateKey]:
    return tds.he.generate_keypair(1024, insecure=True)


@pytest.fixture(scope="session")
def keypair_2048() -> tuple[tds.he.PublicKey, tds.he.PrivateKey]:
    return tds.he.generate_keypair()
