"""``python -m automatte.train CONFIG.yaml ...`` (and ``torchrun ... -m automatte.train ...``)."""

import sys

from automatte.train.cli import cli_main

if __name__ == "__main__":
    sys.exit(cli_main())
