"""The function's own credential: its managed identity in Azure, a developer's login elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def default_credential() -> TokenCredential:
    """``DefaultAzureCredential`` honours ``AZURE_CLIENT_ID`` for a user-assigned identity."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)
