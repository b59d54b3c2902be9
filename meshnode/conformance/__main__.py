"""``python -m meshnode.conformance HOST:PORT``: see `meshnode.conformance.command`."""

import sys

from meshnode.conformance.command import main

if __name__ == "__main__":  # importing the module (an audit, a doc tool) must not run it
    sys.exit(main())
