"""Paillier homomorphic encryption for aggregation.

Five lines from keys to a joint sum::

    import tds
    public_key, private_key = tds.he.generate_keypair()
    total = sum(public_key.encrypt(x) for x in (120, 87, -3))
    private_key.decrypt(total)   # 204

Recipes sit on top (``encrypt``, ``encrypt_vector``, ``decrypt``); the raw layer
beneath (``raw_encrypt``, ``raw_decrypt``, ``encode``) works on residues mod n.
Ciphertexts interoperate with python-paillier in both directions.
"""

from tds.he._ciphertext import Ciphertext
from tds.he._keys import PrivateKey, PublicKey, generate_keypair
from tds.he._packing import EncryptedVector, PackingLayout

__all__ = [
    "Ciphertext",
    "EncryptedVector",
    "PackingLayout",
    "PrivateKey",
    "PublicKey",
    "generate_keypair",
]
