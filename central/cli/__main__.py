"""`python -m central.cli`: the same as the `ur-central` command."""

import sys

from central.cli import main

sys.exit(main())
