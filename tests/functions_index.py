"""The function index as the Functions host builds it. ``get_functions()`` may run once per app
object, so every test shares this one reading."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def indexed() -> dict[str, Any]:
    import function_app

    return {f.get_function_name(): f for f in function_app.app.get_functions()}


def user_function(name: str) -> Any:
    """The Python callable the host would invoke for function ``name``."""
    return indexed()[name].get_user_function()
