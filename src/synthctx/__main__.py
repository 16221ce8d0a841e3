import sys

from synthctx.cli import main

sys.exit(main(own_process=True))
