"""`python -m emulator serve --estate FILE --state-dir DIR [--port N] [--latency-s S]`.

Writes DIR/emulator.json (endpoints, CA bundle, identity header, and the environment to set) for
other processes, then serves until interrupted or terminated.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from types import FrameType

from emulator.instance import Emulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Local Azure control-plane emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve an estate until killed")
    serve.add_argument("--estate", required=True, type=Path, help="estate YAML file")
    serve.add_argument("--state-dir", required=True, type=Path, help="where certificates and emulator.json go")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    serve.add_argument("--latency-s", type=float, default=0.0, help="delay added to every ARM call")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with Emulator.start(args.estate, state_dir=args.state_dir, port=args.port, latency_s=args.latency_s) as emu:
        description = {
            "arm_endpoint": emu.arm_endpoint,
            "ca_bundle": emu.ca_bundle,
            "identity_endpoint": emu.identity_endpoint,
            "identity_header": emu.identity_header,
            "environment": emu.environment(),
        }
        pending = args.state_dir / "emulator.json.tmp"  # renamed into place: readers never see half a file
        pending.write_text(json.dumps(description, indent=2), encoding="utf-8")
        pending.replace(args.state_dir / "emulator.json")
        print(f"serving {emu.arm_endpoint}; details in {args.state_dir / 'emulator.json'}", flush=True)
        stopping.wait()


if __name__ == "__main__":
    main()
