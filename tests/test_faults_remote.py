"""Fault catalogue: remote ends that do not answer as expected. A Ray address that accepts
connections but never answers, or answers something else, fails at once in one line naming the
address (Ray itself retries for minutes); an MLflow URI it cannot store to is one clear line."""

from __future__ import annotations

import importlib.util
import socket
import threading

import pytest
from conftest import one_line
from test_faults_more import snapshot

from suite.executors import ExecutorError
from suite.executors.ray import _reachable

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")


@pytest.fixture
def listener():
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server
    server.close()


def _answering(server: socket.socket, reply: bytes) -> None:
    def serve():
        try:
            conn, _ = server.accept()
            conn.recv(64)
            conn.sendall(reply)
            conn.close()
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()


def test_a_silent_listener_fails_the_handshake_in_one_line(listener, monkeypatch):
    monkeypatch.setattr("suite.executors.ray.CONNECT_TIMEOUT_S", 1.0)  # the test need not wait 10 s
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    with pytest.raises(ExecutorError, match=rf"{address} accepts connections but does not answer as a Ray"):
        _reachable(address)


def test_a_listener_that_speaks_something_else_is_not_a_ray_cluster(listener):
    _answering(listener, b"HTTP/1.1 400 Bad Request\r\n\r\n")
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    with pytest.raises(ExecutorError, match=rf"{address} is not a Ray cluster \(it does not speak gRPC\)"):
        _reachable(address)


def test_a_grpc_server_passes_the_handshake(listener):
    _answering(listener, b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # an empty SETTINGS frame
    _reachable(f"127.0.0.1:{listener.getsockname()[1]}")


@needs_ray
def test_run_with_a_silent_ray_address_is_one_line_naming_it(finished, listener, capsys, monkeypatch):
    monkeypatch.setattr("suite.executors.ray.CONNECT_TIMEOUT_S", 1.0)
    studies, results, _ = finished
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    before = snapshot(results)
    args = ["run", "tiny", "--force", "--studies", studies, "--results", results, "--no-progress"]
    one_line(capsys, [*args, "--executor", "ray", "--address", address], address, "does not answer")
    assert snapshot(results) == before


def test_an_mlflow_uri_it_cannot_store_to_is_one_line(finished, capsys):
    pytest.importorskip("mlflow", reason="mlflow-skinny is not installed (the mlflow extra)")
    _, results, _ = finished
    before = snapshot(results)
    err = one_line(
        capsys,
        ["export", "tiny", "--to", "mlflow", "--out", "ftp://127.0.0.1:1/x", "--results", results],
        "--out ftp://127.0.0.1:1/x",
        "no tracking store for ftp:// URIs",
    )
    assert "internal error" not in err
    assert snapshot(results) == before
