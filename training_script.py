"""Alias kept for the earlier usage `python training_script.py --config CONFIG [...]`.

It is exactly `sarssm train --config CONFIG [...]`.
"""

import sys

from sarssm.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
