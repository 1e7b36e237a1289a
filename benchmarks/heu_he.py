"""SecretFlow's HEU (``sf-heu``), the C++ peer of ``bench_ou``: its Okamoto-Uchiyama and
ZPaillier at 2048 bits, one core, on the values ``bench_ou`` encrypts. HEU pins its own
dependencies, so this runs in its own environment (``make bench-heu`` builds ``.venv-heu``
and runs it); it does not import tds.

Times encrypt, decrypt and add per operation with ``time.perf_counter`` over a batch, HEU's
encryptor and decryptor as its own examples use them. Prints one JSON line per scheme and
operation: ``python benchmarks/heu_he.py [COUNT]``.
"""

import json
import random
import sys
import time

from heu import phe

KEY_BITS = 2048


def per_operation(function, items) -> float:
    start = time.perf_counter()
    for item in items:
        function(item)
    return (time.perf_counter() - start) / len(items) * 1e6


def run(schema: str, count: int) -> list[dict[str, object]]:
    kit = phe.setup(phe.parse_schema_type(schema), KEY_BITS)
    encryptor, decryptor, evaluator = kit.encryptor(), kit.decryptor(), kit.evaluator()
    rng = random.Random(1)
    plaintexts = [kit.plaintext(rng.randrange(2**32)) for _ in range(count)]
    ciphertexts = [encryptor.encrypt(p) for p in plaintexts]
    assert decryptor.decrypt(evaluator.add(ciphertexts[0], ciphertexts[1])) == (
        plaintexts[0] + plaintexts[1]
    )
    pairs = list(zip(ciphertexts, reversed(ciphertexts), strict=True))
    timings = {
        "encrypt": per_operation(encryptor.encrypt, plaintexts),
        "decrypt": per_operation(decryptor.decrypt, ciphertexts),
        "add": per_operation(lambda pair: evaluator.add(*pair), pairs),
    }
    return [
        {"peer": f"heu {schema}", "key_bits": KEY_BITS, "operation": name, "us": round(us, 2)}
        for name, us in timings.items()
    ]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for schema in ("ou", "zpaillier"):
        for line in run(schema, count):
            print(json.dumps(line))


if __name__ == "__main__":
    main()
