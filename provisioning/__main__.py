"""``python -m provisioning``: the operator CLI."""

import sys

from provisioning.cli import main

sys.exit(main())
