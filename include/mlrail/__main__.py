import sys

from mlrail.cli import main

sys.exit(main())
