"""``serving.client`` at addresses where no model server answers (issue 27, class 5): an address that
cannot be one is a ValueError naming it, before anything is sent (gRPC would read port 99999 as
34463); a server that cannot be reached is a ``ClientError`` naming the address and the reason
(connection refused, a port of the other protocol, no answer within the timeout), never a bare
socket error, an HTTP parser error or a timeout reported for a refused port."""

import socket
from concurrent import futures

import grpc
import numpy as np
import pytest

from serving.client import ClientError, GrpcClient, RestClient, score
from serving.rest import serve_rest

JETS = np.array([[[10.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]]], np.float32), np.array([1])


@pytest.fixture(scope="module")
def ports():
    """{'closed': a port nothing listens on, 'mute': one that accepts and never answers, 'rest': an
    HTTP/1.1 server (the REST API's), 'grpc': a gRPC server}."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen()
    rest = serve_rest(None, port=0)  # no models: only the protocol matters here
    server = grpc.server(futures.ThreadPoolExecutor(1))
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield {"closed": closed, "mute": mute.getsockname()[1], "rest": rest.server_port, "grpc": grpc_port}
    server.stop(None)
    rest.shutdown()
    mute.close()


# (protocol, port, status, what the message must say after the address)
UNREACHABLE = [
    ("rest", "closed", "UNAVAILABLE", "connection refused: nothing listens on this port"),
    ("rest", "grpc", "UNAVAILABLE", "the port does not answer HTTP/1.1; is it the gRPC port?"),
    ("rest", "mute", "DEADLINE_EXCEEDED", "no answer within 0.5 s"),
    ("grpc", "closed", "UNAVAILABLE", "connection refused: nothing listens on this port"),
    ("grpc", "rest", "UNAVAILABLE", "the port does not answer gRPC (HTTP/2); is it the REST port?"),
    ("grpc", "mute", "DEADLINE_EXCEEDED", "no answer within 0.5 s"),
]


@pytest.mark.parametrize("protocol, port, status, reason", UNREACHABLE, ids=[f"{c[0]}-{c[1]}" for c in UNREACHABLE])
def test_an_unreachable_server_is_named_with_the_reason(protocol, port, status, reason, ports):
    address = f"127.0.0.1:{ports[port]}"
    where = {"url": f"http://{address}"} if protocol == "rest" else {"target": address}
    with pytest.raises(ClientError) as caught:
        score(*JETS, timeout=0.5, **where)
    assert caught.value.status == status
    assert caught.value.message.startswith(f"{where.get('url', address)}: {reason}"), caught.value.message


BAD_ADDRESSES = [
    (RestClient, "http://127.0.0.1:99999", "url 'http://127.0.0.1:99999': the port must be a number in 1..65535"),
    (RestClient, "http://127.0.0.1:0", "url 'http://127.0.0.1:0': the port must be a number in 1..65535"),
    (RestClient, "http://127.0.0.1:abc", "url 'http://127.0.0.1:abc': the port must be a number in 1..65535"),
    (RestClient, "127.0.0.1:8501", "url '127.0.0.1:8501': expected http://HOST:PORT"),
    (GrpcClient, "127.0.0.1:99999", "target '127.0.0.1:99999': the port must be a number in 1..65535"),
    (GrpcClient, "127.0.0.1:-1", "target '127.0.0.1:-1': the port must be a number in 1..65535"),
    (GrpcClient, "127.0.0.1", "target '127.0.0.1': expected HOST:PORT"),
]


@pytest.mark.parametrize("client, address, message", BAD_ADDRESSES, ids=[c[1] for c in BAD_ADDRESSES])
def test_an_address_that_cannot_be_one_is_refused_before_sending(client, address, message):
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        client(address)


def test_a_good_address_still_reaches_the_server(ports):
    """The REST server of the table answers the client (404 for an unknown route, as an answer)."""
    client = RestClient(f"http://127.0.0.1:{ports['rest']}", timeout=5)
    try:
        status, body = client.request("GET", "/nothing")
    finally:
        client.close()
    assert status == 404 and "error" in body
