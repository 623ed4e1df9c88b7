import sys

from alpha_tui.cli import main

sys.exit(main())
