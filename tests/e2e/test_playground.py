"""`make playground` from a clean clone, then the three commands it prints, run as printed: the CLI
apply, curl to the local host, the event feeder; the local.settings.json it wrote is what they use.

The clone shares this checkout's virtualenv and node_modules (`make -o install`): installing them
again would take minutes and is what `make install` is tested by everywhere else.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.config import Config
from tests.conftest import mariadb_problem, postgres_problem, require

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


Playground = tuple[Path, list[str], dict[str, str], subprocess.Popen[str]]


@pytest.fixture
def playground(tmp_path: Path, azurite: str) -> Iterator[Playground]:
    require(postgres_problem() or mariadb_problem())
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    (clone / "node_modules").symlink_to(ROOT / "node_modules")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "PYTHONPATH": str(clone)}
    ports = {name: str(free_port()) for name in ("ARM", "HOST", "MYSQL")}
    command = ["make", "-o", "install", "-o", "services", "playground"]
    command += [f"PLAYGROUND_{name}_PORT={port}" for name, port in ports.items()]
    process = subprocess.Popen(
        command, cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line or process.poll() is None, "make playground stopped:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("Try next:"):
                break
        printed = [process.stdout.readline().strip() for _ in range(3)]
        assert f"127.0.0.1:{ports['ARM']}" in "".join(lines) and f"127.0.0.1:{ports['MYSQL']}" in "".join(lines)
        yield clone, printed, env, process
    finally:
        if process.poll() is None:  # a test that failed before stopping it: its own process group, started above
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()


def run(command: str, clone: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        shlex.split(command), cwd=clone, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def test_make_playground_then_the_printed_commands_work(playground: Playground) -> None:
    clone, (apply, curl, event), env, process = playground
    assert apply.startswith(".venv/bin/passwordless --settings ") and " apply -g rg-apps -n shop-web" in apply
    assert curl.startswith("curl ") and event.startswith(".venv/bin/python -m emulator.playground event --tag ")

    settings = json.loads((clone / "local.settings.json").read_text())["Values"]
    config = Config.from_environment(settings)  # the product accepts the file as it is
    assert config.arm_endpoint.startswith("https://127.0.0.1:") and config.function_object_id

    outcome = run(apply, clone, env).stdout.strip().splitlines()[-1]
    assert outcome.startswith("✔ converged shop-web: ") and "run recorded" in outcome

    status: dict[str, Any] = json.loads(run(curl, clone, env).stdout)  # the HTTP function over real HTTP
    assert status["managed"] is True and status["in_sync"] is True
    latest = status["runs"][0]  # Azurite keeps the runs of earlier playgrounds: the latest is this one
    assert (latest["trigger"], latest["outcome"]) == ("cli", "converged")

    fed = run(event, clone, env).stdout
    assert "Microsoft.Resources.ResourceWriteSuccess" in fed and "HTTP 202" in fed
    cli = shlex.split(apply)[:3]
    legacy = json.loads(
        run(shlex.join([*cli, "status", "-g", "rg-apps", "-n", "legacy-portal", "--json"]), clone, env).stdout
    )
    assert legacy["in_sync"] is True and legacy["connections"][0]["binding"]  # the event provisioned it
    assert (legacy["runs"][0]["trigger"], legacy["runs"][0]["outcome"]) == ("eventgrid", "converged")

    stop_with_sigterm(process)


def stop_with_sigterm(process: subprocess.Popen[str]) -> None:
    """SIGTERM to make alone (as `kill` or a process manager sends it; make passes it on): within a few
    seconds make has exited and no process of the playground's group is left, the emulator's, the
    local host's and the proxies' threads with them; the Azurite it reused (the session's) still runs."""
    from emulator.azurite import PORTS, listening

    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=5)  # make ends when the playground under it has
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # anything left in the group make started (start_new_session)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        group = ["ps", "-o", "pid,stat,args", "-g", str(process.pid)]
        left = subprocess.run(group, capture_output=True, text=True, check=False)
        pytest.fail(f"the playground left processes behind after SIGTERM:\n{left.stdout}")
    assert process.stdout is not None
    said = process.stdout.read()
    assert "Passwordless playground stopped." in said and "Traceback" not in said, said
    assert all(listening(port) for port in PORTS.values())  # not ours to stop
