"""``python -m jupyter_ai_access.local_aws``: run the local AWS emulator."""

import sys

from .emulator import main

sys.exit(main())
