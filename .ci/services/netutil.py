"""Small network helpers for .ci/services.sh (standard library only).

python3 netutil.py ports N            print N distinct free TCP ports on 127.0.0.1
python3 netutil.py kafka-ready H P    exit 0 iff the Kafka broker at H:P answers a
                                      Metadata request listing at least one broker
python3 netutil.py kafka-cluster-id   print a random Kafka cluster id (base64url UUID)
"""

from __future__ import annotations

import base64
import contextlib
import socket
import struct
import sys
import uuid


def free_ports(count: int) -> list[int]:
    # Hold every socket open until all are bound so the ports are distinct.
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        return ports


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by broker")
        buf += chunk
    return buf


def kafka_ready(host: str, port: int) -> bool:
    """Send a Metadata v0 request (all topics) and check the broker lists itself."""
    client_id = b"carelog-services"
    correlation_id = 7
    # Request header v1: api_key=3 (Metadata), api_version=0, correlation_id, client_id;
    # body: topics array of length 0 (= all topics in v0).
    request = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    request += struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.settimeout(3)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        body = _recv_exact(sock, size)
    got_correlation_id, broker_count = struct.unpack(">ii", body[:8])
    return got_correlation_id == correlation_id and broker_count >= 1


def kafka_cluster_id() -> str:
    """A random cluster id as Kafka's own ``Uuid.randomUuid`` makes them.

    Like Kafka, draw again when the text starts with "-": kafka-storage would
    read such an id (1 draw in 64) as an option and refuse to format.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "ports":
        print(" ".join(map(str, free_ports(int(argv[1])))))
        return 0
    if len(argv) == 3 and argv[0] == "kafka-ready":
        try:
            return 0 if kafka_ready(argv[1], int(argv[2])) else 1
        except (OSError, EOFError, struct.error):
            return 1
    if len(argv) == 1 and argv[0] == "kafka-cluster-id":
        print(kafka_cluster_id())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
