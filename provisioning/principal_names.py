"""Database principal names for apps: readable, within engine limits, deterministic.

Only a shortened name carries a digest of the whole name, so two shortened names do not collide
(short of a digest collision); a name that fits is the app's own name, which a namesake app in
another resource group or subscription shares.
"""

from __future__ import annotations

import hashlib

from provisioning.engines.dialects import dialect_for
from provisioning.models import Engine
from provisioning.resource_ids import AppRef

SLOT_SEPARATOR = "."  # site and slot names cannot contain '.', so 'a.b' is only ever site a, slot b
DIGEST_LENGTH = 8


def principal_name(app: AppRef, engine: Engine) -> str:
    """``site`` or ``site.slot``; shortened with a digest of the full name when too long."""
    full = f"{app.site}{SLOT_SEPARATOR}{app.slot}" if app.slot else app.site
    return shorten(full, engine)


def shorten(name: str, engine: Engine) -> str:
    """Keep a prefix and add ``~<digest of the whole name>``, so distinct names stay distinct."""
    fits = dialect_for(engine).name_fits
    if fits(name):
        return name
    digest = "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]
    prefix = name
    while prefix and not fits(prefix + digest):
        prefix = prefix[:-1]
    return prefix + digest
