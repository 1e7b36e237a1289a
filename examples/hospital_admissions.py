"""Three hospitals sum their monthly admissions without showing them to anyone.

The health bureau's analyst holds the only private key. Each hospital encrypts
its twelve monthly counts under the analyst's public key and sends the bytes
to an aggregator, which adds the encrypted vectors without any key. Only the
analyst decrypts, and only the total.

After ``make demo`` has set up ``.venv``: ``.venv/bin/python examples/hospital_admissions.py``.
"""

from __future__ import annotations

import time

import numpy as np

import tds

HOSPITALS = ["Harbour General", "Eastern Maternity", "Island Regional"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
# Every party agrees on the packing layout up front: counts below a million,
# at most as many vectors as there are hospitals.
LAYOUT = {"bound": 1_000_000, "max_additions": len(HOSPITALS)}


def hospital_records(seed: int) -> np.ndarray:
    """Each hospital's private monthly admission counts (synthetic)."""
    rng = np.random.default_rng(seed)
    seasonal = 1 + 0.25 * np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False))
    return np.rint(rng.normal(2_000, 300) * seasonal + rng.normal(0, 80, 12)).astype(np.int64)


def main() -> None:
    started = time.perf_counter()
    print("analyst: generating a 2048-bit Paillier key pair")
    public_key, private_key = tds.he.generate_keypair()
    published = public_key.to_bytes()
    print(f"analyst: publishing public key {public_key.fingerprint} ({len(published)} bytes)")

    uploads = []
    for seed, hospital in enumerate(HOSPITALS):
        key = tds.he.PublicKey.from_bytes(published)
        counts = hospital_records(seed)
        encrypted = key.encrypt_vector(counts, **LAYOUT)
        uploads.append(encrypted.to_bytes())
        print(
            f"{hospital:>18}: encrypted {len(counts)} months into "
            f"{len(encrypted.ciphertexts)} ciphertext(s), {len(uploads[-1])} bytes"
        )

    aggregator_key = tds.he.PublicKey.from_bytes(published)
    total = sum(tds.he.EncryptedVector.from_bytes(aggregator_key, blob) for blob in uploads)
    print(f"aggregator: summed {total.additions} encrypted vectors without any private key")

    region = private_key.decrypt_vector(total)
    print("analyst: regional admissions by month")
    for month, count in zip(MONTHS, region, strict=True):
        print(f"  {month}  {count:6d}")

    expected = sum(hospital_records(seed) for seed in range(len(HOSPITALS)))
    assert np.array_equal(region, expected), "decrypted total differs from the plain sum"
    elapsed = time.perf_counter() - started
    print(f"check: equals the plain sum of all hospitals' records ({elapsed:.2f} s)")


if __name__ == "__main__":
    main()
