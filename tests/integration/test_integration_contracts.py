"""Contracts between real nodes: `tds` commands against daemons in their own processes."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dataspace_harness import DataSpace, Node, tds, write_dataset

from tds.connector import Client


def _publish(space: DataSpace, *, counter_offers: bool = False) -> tuple[Node, Node]:
    hospital = space.add_node("hospital")
    insurer = space.add_node("insurer")
    hospital.tds("dataset", "publish", str(write_dataset(hospital, counter_offers=counter_offers)))
    hospital.start()
    return hospital, insurer


def _other_policy(space: DataSpace, insurer_offer: dict[str, object]) -> Path:
    """The offer with more uses than offered: a request the hospital will not agree to."""
    text = json.dumps(insurer_offer["policy"]).replace(
        '"rightOperand": 100', '"rightOperand": 1000'
    )
    assert "1000" in text
    path = space.root / "more-uses.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_two_nodes_agree_and_both_hold_the_same_signed_agreement(space: DataSpace) -> None:
    hospital, insurer = _publish(space)
    offers = insurer.tds_json("catalog", "hospital")
    assert [offer["id"] for offer in offers] == ["visits"]
    assert "visits.csv" not in json.dumps(offers)

    negotiation = insurer.tds_json("negotiate", "hospital", "visits")
    assert negotiation["state"] == "FINALIZED", negotiation
    agreement_id = negotiation["agreement_id"]

    mine = insurer.tds_json("agreements")
    theirs = hospital.tds_json("agreements")
    assert [a["id"] for a in mine] == [a["id"] for a in theirs] == [agreement_id]
    assert mine[0]["policy_hash"] == theirs[0]["policy_hash"]
    assert (mine[0]["provider"], mine[0]["consumer"]) == ("hospital", "insurer")

    saved = space.root / "agreement.json"
    insurer.tds("agreement", "show", agreement_id, "--out", str(saved))
    offline = tds(
        "agreement", "verify", str(saved), "--ca", str(space.ca), "--json", cwd=space.root
    )
    assert offline.json()["valid"] is True

    report = insurer.tds_json("audit", "verify", "hospital")
    assert report["valid"] is True
    kinds = [entry["kind"] for entry in report["entries_about_us"]]
    assert "agreement" in kinds and "peer-checkpoint" in kinds
    again = insurer.tds_json("audit", "verify", "hospital")
    assert again["previous_size"] == report["size"]


def test_a_counter_offer_survives_restarts_and_is_accepted(space: DataSpace) -> None:
    hospital, insurer = _publish(space, counter_offers=True)
    offer = insurer.tds_json("catalog", "hospital")[0]
    request = _other_policy(space, offer)
    countered = insurer.tds_json("negotiate", "hospital", "visits", "--policy", str(request))
    assert countered["state"] == "OFFERED", countered
    assert "100" in countered["reason"]

    assert hospital.stop() == 0
    hospital.start()

    accepted = insurer.tds_json("negotiation", "accept", countered["id"])
    assert accepted["state"] == "FINALIZED", accepted
    provider_side = hospital.tds_json("negotiation", "show", countered["id"])
    assert provider_side["state"] == "FINALIZED"
    assert provider_side["agreement_id"] == accepted["agreement_id"]


def test_a_refusal_explains_itself_and_the_provider_keeps_serving(space: DataSpace) -> None:
    hospital, insurer = _publish(space)
    offer = insurer.tds_json("catalog", "hospital")[0]
    refused = insurer.tds(
        "negotiate", "hospital", "visits", "--policy", str(_other_policy(space, offer)), check=False
    )
    assert refused.returncode == 1
    assert "no agreement on 'visits' from hospital" in refused.stdout
    assert "1000" in refused.stdout and "100" in refused.stdout
    both_sides = [node.tds_json("negotiation", "list")[0]["state"] for node in (insurer, hospital)]
    assert both_sides == ["TERMINATED", "TERMINATED"]

    missing = insurer.tds("negotiate", "hospital", "nothing", check=False)
    assert missing.returncode == 1
    assert "error: " in missing.stderr and "nothing" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert insurer.tds_json("negotiate", "hospital", "visits")["state"] == "FINALIZED"


def test_a_revoked_consumer_is_refused(space: DataSpace) -> None:
    hospital, insurer = _publish(space)
    tds("ca", "revoke", "insurer", "--ca", str(space.ca), cwd=space.root)
    hospital.tds("node", "install-crl", str(space.ca / "crl.pem"))
    refused = insurer.tds("negotiate", "hospital", "visits", check=False)
    assert refused.returncode == 1
    assert "revoked" in refused.stderr or "UNAUTHENTICATED" in refused.stderr, refused.stderr
    assert hospital.tds_json("agreements") == []


def test_fifty_clients_negotiating_at_once_all_finalize(space: DataSpace) -> None:
    hospital, insurer = _publish(space)
    peer = f"hospital@{hospital.address}"
    with Client(insurer.directory) as client, ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: client.negotiate(peer, "visits"), range(50)))
    assert {result.state.value for result in results} == {"FINALIZED"}
    assert len({result.agreement_id for result in results}) == 50
    assert len(hospital.tds_json("agreements")) == 50


def test_sigterm_stops_the_daemon_cleanly(space: DataSpace) -> None:
    hospital, insurer = _publish(space)
    insurer.tds_json("negotiate", "hospital", "visits")
    assert hospital.daemon is not None
    assert hospital.daemon.stop(signal.SIGTERM) == 0
    log = hospital.daemon.log_text()
    assert "received SIGTERM" in log and "closed the node database" in log
    unreachable = insurer.tds("catalog", "hospital", check=False)
    assert unreachable.returncode == 1
    assert "hospital" in unreachable.stderr


def test_json_logs_are_one_object_per_line(space: DataSpace) -> None:
    hospital = space.add_node("hospital")
    insurer = space.add_node("insurer")
    hospital.start("--log-format", "json")
    insurer.tds("catalog", "hospital")
    hospital.stop()
    records = [json.loads(line) for line in hospital.daemon.log_text().splitlines() if line]
    calls = [record for record in records if record.get("rpc")]
    assert any(
        call["rpc"] == "tds.v1.CatalogService/ListDatasets"
        and call["peer"] == "insurer"
        and call["status"] == "OK"
        for call in calls
    ), records


def test_a_daemon_refuses_to_start_on_a_bad_config_or_a_busy_port(space: DataSpace) -> None:
    hospital = space.add_node("hospital")
    insurer = space.add_node("insurer")
    hospital.start()
    config = insurer.directory / "node.toml"
    good = config.read_text(encoding="utf-8")

    config.write_text(good.replace(insurer.address, hospital.address), encoding="utf-8")
    busy = insurer.tds("connector", "serve", check=False)
    assert busy.returncode == 2
    assert "in use" in busy.stderr

    config.write_text(good + "\n[surprise]\nkey = 1\n", encoding="utf-8")
    bad = insurer.tds("connector", "serve", check=False)
    assert bad.returncode == 2
    assert "surprise" in bad.stderr and "node.toml" in bad.stderr

    config.write_text(good, encoding="utf-8")
    (insurer.directory / "node-cert.pem").write_text("not a certificate", encoding="utf-8")
    unreadable = insurer.tds("connector", "serve", check=False)
    assert unreadable.returncode == 1
    assert "certificate" in unreadable.stderr
    assert "Traceback" not in busy.stderr + bad.stderr + unreadable.stderr
