"""SecretFlow's PSI (``spu``) on the same sets as ``bench_psi_oprf``: the peer of the tds OPRF
join. ``spu`` pins numpy below 2, so this runs in its own environment (``make bench-spu``
builds ``.venv-spu`` and runs it); it does not import tds.

Both parties run as threads of one process over spu's brpc link on localhost, as SecretFlow's
own examples do. Only ``psi_execute`` is timed (not writing the input files). Prints one JSON
line per run: ``python benchmarks/spu_psi.py N ECDH|RR22``.
"""

import json
import os
import socket
import sys
import tempfile
import threading
import time

import spu.libspu.link as link
import spu.psi as psi


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_sets(root: str, n: int) -> list[str]:
    """The sets of ``bench_psi.id_sets``: ``n`` 12-digit ids a side, half shared."""
    sets = [range(n), range(n // 2, n + n // 2)]
    paths = []
    for rank, numbers in enumerate(sets):
        path = os.path.join(root, f"in{rank}.csv")
        with open(path, "w", encoding="utf-8") as file:
            file.write("id\n" + "\n".join(f"{i:012d}" for i in numbers) + "\n")
        paths.append(path)
    return paths


def config_for(protocol: str, source: str, output: str) -> psi.PsiExecuteConfig:
    config = psi.PsiExecuteConfig()
    config.protocol_conf.protocol = getattr(psi.PsiProtocol, f"PROTOCOL_{protocol}")
    config.protocol_conf.receiver_rank = 0
    config.protocol_conf.broadcast_result = False
    if protocol == "ECDH":
        config.protocol_conf.ecdh_params.curve = psi.EllipticCurveType.CURVE_25519
    config.input_params.type = psi.SourceType.SOURCE_TYPE_FILE_CSV
    config.input_params.path = source
    config.input_params.selected_keys = ["id"]
    config.input_params.keys_unique = True
    config.output_params.type = psi.SourceType.SOURCE_TYPE_FILE_CSV
    config.output_params.path = output
    config.output_params.disable_alignment = True
    return config


def run(n: int, protocol: str) -> dict[str, object]:
    root = tempfile.mkdtemp()
    paths = write_sets(root, n)
    desc = link.Desc()
    for rank in range(2):
        desc.add_party(f"p{rank}", f"127.0.0.1:{free_port()}")
    desc.recv_timeout_ms = 3600 * 1000
    outputs = [os.path.join(root, f"out{rank}.csv") for rank in range(2)]

    def party(rank: int) -> None:
        context = link.create_brpc(desc, rank)
        psi.psi_execute(config_for(protocol, paths[rank], outputs[rank]), context)
        context.stop_link()

    start = time.perf_counter()
    threads = [threading.Thread(target=party, args=(rank,)) for rank in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    with open(outputs[0], encoding="utf-8") as file:
        found = sum(1 for _ in file) - 1
    assert found == n // 2, f"spu found {found} shared ids, not {n // 2}"
    return {"n": n, "protocol": protocol, "seconds": round(seconds, 3), "intersection": found}


print(json.dumps(run(int(sys.argv[1]), sys.argv[2])))
