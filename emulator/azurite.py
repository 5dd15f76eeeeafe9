"""Azurite, the local stand-in for Azure Storage, on its default ports, so the product's
``AzureWebJobsStorage=UseDevelopmentStorage=true`` reaches it. Installed from npm (package.json)."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

AZURITE = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite"
PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
CONNECTION = "UseDevelopmentStorage=true"


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed or did not start."""


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_azurite(*, start_timeout_s: float = 30.0) -> Iterator[str]:
    """Yield the connection string; start Azurite (and stop it after) unless it already runs."""
    if all(listening(port) for port in PORTS.values()):
        yield CONNECTION
        return
    if not AZURITE.exists():
        raise AzuriteUnavailable(f"Azurite is not installed at {AZURITE} (run `npm ci`)")
    location = tempfile.mkdtemp(prefix="azurite-")
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--location",
            location,
            *(f"--{kind}Port={port}" for kind, port in PORTS.items()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:  # stopped however this ends, a signal while it starts included (make playground)
        deadline = time.monotonic() + start_timeout_s
        while not all(listening(port) for port in PORTS.values()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AzuriteUnavailable("Azurite did not start")
            time.sleep(0.2)
        yield CONNECTION
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
