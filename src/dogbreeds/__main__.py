import sys

from dogbreeds.cli import main

sys.exit(main())
