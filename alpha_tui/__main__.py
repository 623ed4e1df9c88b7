import sys

from alpha_tui.cli import main

# guarded: worker processes (forkserver/spawn) re-import the main module as
# __mp_main__, and must not start a second alpha-tui inside themselves
if __name__ == "__main__":
    sys.exit(main())
