"""`make run`'s port check: a busy port fails at once with a message naming the variable to set."""

from __future__ import annotations

import socket
import subprocess

from ingest.cli.stack import STACK


def port_check(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(STACK), "port-check", "the demo site", "DEMO_PORT", str(port)],
                          capture_output=True, text=True, timeout=60)


def test_busy_port_names_the_variable_and_a_free_one_passes() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = port_check(port)
    assert taken.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in taken.stderr and "set DEMO_PORT" in taken.stderr
    assert port_check(port).returncode == 0  # released: the same port is free again
