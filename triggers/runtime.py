"""The core's shared runtime for a running function. ``provisioning.runtime`` loads the whole core, so
it is imported on the first call, not when the host imports the triggers to index the functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioning.runtime import Runtime


def shared_runtime() -> Runtime:
    from provisioning.runtime import shared_runtime as core_runtime

    return core_runtime()
