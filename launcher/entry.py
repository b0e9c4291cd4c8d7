#!/usr/bin/env python3
"""/build/launcher.py in the image: runs the launcher from /build/lib, where the image
keeps it compiled (a script run by path is compiled afresh on every start, which every
job would pay for)."""

import sys

sys.path.insert(0, "/build/lib")
from launcher import main

sys.exit(main(sys.argv[1:]))
