"""Every refusal a daemon in its own process gives, with its status, and it keeps serving."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from dataspace_harness import DataSpace, Node, write_dataset

from tds.connector import CertificateAuthority, Client, NegotiationState, enroll_node
from tds.connector._peer import PeerConnection
from tds.connector._replies import new_message_id
from tds.connector._transport import TransportSettings, channel_options
from tds.connector.serde import encode_accept_request, encode_get_dataset_request
from tds.errors import (
    AuthenticationError,
    DecodeError,
    MessageTooLargeError,
    NotFoundError,
    StateTransitionError,
)

GET_DATASET = "tds.v1.CatalogService/GetDataset"
FAST = TransportSettings(
    deadline_seconds=5,
    retry_attempts=2,
    retry_initial_backoff_seconds=0.05,
    max_message_bytes=16 * 1024 * 1024,
)


@pytest.fixture(scope="module")
def nodes(shared_space: DataSpace) -> tuple[Node, Node]:
    space = shared_space
    hospital = space.add_node("hospital")
    insurer = space.add_node("insurer")
    hospital.tds("dataset", "publish", str(write_dataset(hospital)))
    hospital.start()
    return hospital, insurer


def _still_serving(hospital: Node) -> None:
    status = hospital.tds_json("status")
    assert status["daemon"]["state"] == "serving", status  # type: ignore[index]


def test_a_plaintext_client_gets_no_answer(nodes: tuple[Node, Node]) -> None:
    hospital, _ = nodes
    with grpc.insecure_channel(hospital.address) as channel:
        call = channel.unary_unary(f"/{GET_DATASET}")
        with pytest.raises(grpc.RpcError) as refused:
            call(encode_get_dataset_request("visits"), timeout=5)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    _still_serving(hospital)


def test_a_node_of_another_data_space_is_refused(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    hospital, _ = nodes
    stranger_ca = CertificateAuthority.create(tmp_path / "other-ca", "Another data space")
    stranger = enroll_node(tmp_path / "stranger", "insurer", stranger_ca)
    hospital_ca = (hospital.directory / "ca-cert.pem").read_bytes()
    credentials = grpc.ssl_channel_credentials(
        hospital_ca, stranger.private_key_pem, stranger.certificate_pem
    )
    with grpc.secure_channel(
        hospital.address, credentials, options=channel_options(FAST, "hospital")
    ) as channel:
        call = channel.unary_unary(f"/{GET_DATASET}")
        with pytest.raises(grpc.RpcError) as refused:
            call(encode_get_dataset_request("visits"), timeout=5)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    _still_serving(hospital)


def test_a_client_of_another_data_space_does_not_trust_the_node(
    nodes: tuple[Node, Node], tmp_path: Path
) -> None:
    hospital, _ = nodes
    stranger_ca = CertificateAuthority.create(tmp_path / "other-ca", "Another data space")
    enroll_node(tmp_path / "stranger", "stranger", stranger_ca)
    (tmp_path / "stranger" / "node.toml").write_text(
        '[node]\nname = "stranger"\n', encoding="utf-8"
    )
    with Client(tmp_path / "stranger") as client, pytest.raises(AuthenticationError):
        client.catalog(f"hospital@{hospital.address}")
    _still_serving(hospital)


def test_malformed_and_oversized_messages_are_refused_precisely(
    nodes: tuple[Node, Node],
) -> None:
    hospital, insurer = nodes
    with Client(insurer.directory) as client:
        connection = PeerConnection(client.node, "hospital", hospital.address, FAST)
        try:
            with pytest.raises(DecodeError, match="malformed"):
                connection.call(GET_DATASET, b"\xff\xff\xff")
            with pytest.raises(MessageTooLargeError):
                connection.call(GET_DATASET, encode_get_dataset_request("x" * (5 * 1024 * 1024)))
        finally:
            connection.close()
    _still_serving(hospital)


def test_an_illegal_transition_changes_nothing(nodes: tuple[Node, Node]) -> None:
    hospital, insurer = nodes
    peer = f"hospital@{hospital.address}"
    with Client(insurer.directory) as client:
        done = client.negotiate(peer, "visits")
        assert done.state is NegotiationState.FINALIZED
        connection = client.connect(peer)
        with pytest.raises(StateTransitionError, match="FINALIZED"):
            connection.call(
                "tds.v1.NegotiationService/AcceptOffer",
                encode_accept_request(new_message_id(), done.id),
            )
        with pytest.raises(StateTransitionError):
            client.accept_offer(done.id)
        with pytest.raises(NotFoundError):
            connection.call(
                "tds.v1.NegotiationService/AcceptOffer",
                encode_accept_request(new_message_id(), "no-such-negotiation"),
            )
    provider_side = hospital.tds_json("negotiation", "show", done.id)
    assert provider_side["state"] == "FINALIZED"  # type: ignore[index]
    _still_serving(hospital)


def test_a_consumer_the_access_policy_does_not_allow_sees_nothing(
    space: DataSpace,
) -> None:
    hospital = space.add_node("hospital")
    insurer = space.add_node("insurer")
    description = write_dataset(hospital)
    description.write_text(
        description.read_text(encoding="utf-8") + '\n[access]\nallow = ["lab"]\n',
        encoding="utf-8",
    )
    hospital.tds("dataset", "publish", str(description))
    hospital.start()
    assert insurer.tds_json("catalog", "hospital") == []
    refused = insurer.tds("negotiate", "hospital", "visits", check=False)
    assert refused.returncode == 1
    assert "offers no dataset 'visits' to insurer" in refused.stderr
    assert hospital.tds_json("agreements") == []
    _still_serving(hospital)
