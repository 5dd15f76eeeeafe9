"""One Functions instance of the estate benchmark: takes part messages off the Azurite queue and runs
the queue function's handler on each, as the host would, until the queue is empty; then prints its
peak resident memory (measured here, in the worker) and how many parts it ran, as JSON.

The peak is the kernel's high-water mark of this process's own memory (``VmHWM`` in
/proc/self/status, proc(5)). ``getrusage``'s ``ru_maxrss`` would not do: resource usage is
preserved across execve (getrusage(2)), so a worker started by the benchmark would report the
benchmark's own peak whenever it is the larger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import azure.functions as func
from azure.storage.queue import QueueClient

from provisioning.observability import configure_logging
from triggers.audit_run import PARTS_QUEUE

VISIBILITY_S = 900  # a part is invisible to other workers while this one runs it


def main() -> int:
    configure_logging()
    from tests.functions_index import user_function

    handler = user_function("queue_audit_part")
    queue = QueueClient.from_connection_string("UseDevelopmentStorage=true", PARTS_QUEUE)
    parts = 0
    while True:
        message = next(iter(queue.receive_messages(max_messages=1, visibility_timeout=VISIBILITY_S)), None)
        if message is None:
            break
        handler(func.QueueMessage(id=message.id, body=str(message.content).encode()))
        queue.delete_message(message)
        parts += 1
    print(json.dumps({"parts": parts, "peak_rss_mb": round(peak_rss_kib() / 1024, 1)}))
    return 0


def peak_rss_kib() -> int:
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


if __name__ == "__main__":
    sys.exit(main())
