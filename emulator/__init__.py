"""A local stand-in for the Azure Resource Manager control plane, as Azurite is for Storage.

It serves, over HTTPS with its own CA, exactly the ARM operations the product calls, plus the App
Service managed-identity token endpoint, and emits the Event Grid events Azure would.
"""

from emulator.errors import ArmError
from emulator.instance import Emulator
from emulator.server import RecordedRequest

__all__ = ["ArmError", "Emulator", "RecordedRequest"]
