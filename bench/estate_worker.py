"""One Functions instance of the estate benchmark, running before the audit starts, as the host's
instances are: it loads the function index, says it is ready, then polls the Azurite queue the way
the host's queue listener does and runs the queue function's handler on each part it takes, one at
a time (host.json: ``batchSize`` 1, ``newBatchThreshold`` 0). When the benchmark has said every part
is queued (a line on stdin) and the queue is empty, it prints its peak resident memory (measured
here, in the worker) and how many parts it ran, as JSON.

Polling: after an empty look the wait doubles from ``FIRST_WAIT_S``, with jitter, up to host.json's
``maxPollingInterval``; after a message the queue is looked at again at once (the listener's random
exponential back-off, Azure/azure-webjobs-sdk#2967). An idle instance is therefore up to one
interval late for the first part, as in Azure. The first part also pays for importing the core,
as a worker's first invocation does.

The peak is the kernel's high-water mark of this process's own memory (``VmHWM`` in
/proc/self/status, proc(5)). ``getrusage``'s ``ru_maxrss`` would not do: resource usage is
preserved across execve (getrusage(2)), so a worker started by the benchmark would report the
benchmark's own peak whenever it is the larger."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import azure.functions as func
from azure.storage.queue import QueueClient

from provisioning.observability import configure_logging
from triggers.audit_run import PARTS_QUEUE

ROOT = Path(__file__).resolve().parents[1]
VISIBILITY_S = 900  # a part is invisible to other workers while this one runs it
FIRST_WAIT_S = 0.1


def main() -> int:
    configure_logging()
    from tests.functions_index import user_function

    handler = user_function("queue_audit_part")
    queue = QueueClient.from_connection_string("UseDevelopmentStorage=true", PARTS_QUEUE)
    longest = max_polling_interval_s()
    all_queued = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), all_queued.set()), daemon=True).start()
    print("ready", flush=True)
    parts, wait = 0, FIRST_WAIT_S
    while True:
        queued = all_queued.is_set()  # before looking, so a look that raced the last send is not the end
        message = next(iter(queue.receive_messages(max_messages=1, visibility_timeout=VISIBILITY_S)), None)
        if message is not None:
            handler(func.QueueMessage(id=message.id, body=str(message.content).encode()))
            queue.delete_message(message)
            parts, wait = parts + 1, FIRST_WAIT_S
            continue
        if queued:
            break
        time.sleep(random.uniform(wait / 2, wait))
        wait = min(wait * 2, longest)
    print(json.dumps({"parts": parts, "peak_rss_mb": round(peak_rss_kib() / 1024, 1)}), flush=True)
    return 0


def max_polling_interval_s() -> float:
    """host.json's ``extensions.queues.maxPollingInterval`` (hh:mm:ss); the host's default is a minute."""
    queues = json.loads((ROOT / "host.json").read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
    hours, minutes, seconds = (float(part) for part in str(queues.get("maxPollingInterval", "00:01:00")).split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds).total_seconds()


def peak_rss_kib() -> int:
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


if __name__ == "__main__":
    sys.exit(main())
