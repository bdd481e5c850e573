#!/usr/bin/env python3
"""The hostile tests' own test: no case may check with a bare `assert`,
which `python -O` removes (ctest runs the cases under -O to prove it).
They raise hostile.CheckFailed instead. Exits 1 naming every `assert`."""

import ast
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
found = []
for name in sorted(os.listdir(here)):
    if name.endswith(".py"):
        path = os.path.join(here, name)
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        found += [f"{name}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Assert)]
if found:
    print("bare assert (removed by python -O): " + ", ".join(found))
    sys.exit(1)
print("no bare assert in tests/hostile/*.py")
