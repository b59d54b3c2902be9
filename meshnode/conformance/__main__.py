"""``python -m meshnode.conformance HOST:PORT``: see `meshnode.conformance.command`."""

import sys

from meshnode.conformance.command import main

sys.exit(main())
