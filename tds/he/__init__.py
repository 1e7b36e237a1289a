"""Additive homomorphic encryption for aggregation: Paillier, and Okamoto-Uchiyama for speed.

Five lines from keys to a joint sum::

    import tds
    public_key, private_key = tds.he.generate_keypair()
    total = sum(public_key.encrypt(x) for x in (120, 87, -3))
    private_key.decrypt(total)   # 204

``generate_keypair(scheme="ou")`` gives Okamoto-Uchiyama keys with the same methods, several
times faster. Recipes sit on top (``encrypt``, ``encrypt_vector``, ``decrypt``); the raw layer
beneath (``raw_encrypt``, ``raw_decrypt``, ``encode``) works on plaintext residues. Paillier
ciphertexts interoperate with python-paillier in both directions.
"""

from tds.he._ciphertext import Ciphertext
from tds.he._keys import PrivateKey, PublicKey
from tds.he._ou import OUPrivateKey, OUPublicKey
from tds.he._packing import EncryptedVector, PackingLayout
from tds.he._scheme import generate_keypair, load_private_key, load_public_key

__all__ = [
    "Ciphertext",
    "EncryptedVector",
    "OUPrivateKey",
    "OUPublicKey",
    "PackingLayout",
    "PrivateKey",
    "PublicKey",
    "generate_keypair",
    "load_private_key",
    "load_public_key",
]
