"""`python -m sciml ...`: the command line without relying on the console script."""

import sys

from .cli import main


sys.exit(main())
