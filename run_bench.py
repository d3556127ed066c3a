#!/usr/bin/env python
"""ssl4rec command line (the same as the ``ssl4rec`` console script). See ``--help``."""

import sys

from ssl4rec.cli import main

if __name__ == "__main__":
    sys.exit(main())
