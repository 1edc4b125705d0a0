#!/usr/bin/env python3
"""Create or update the Hubs schema and load the demo data. See ``--help``."""

import sys

from hubs.db.populate import main

if __name__ == "__main__":
    sys.exit(main())
