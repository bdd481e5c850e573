#!/usr/bin/env python3
"""Flash the resmgr archive takes in a linked firmware image.

Reads a GNU ld map file and sums the sizes of the input sections .text*
and .rodata* that the linker took from members of the given archive (the
sections --gc-sections dropped are listed under "Discarded input sections"
and are not counted). Prints one line per archive member group (the Rust
crate an object came from) and the total, in bytes:

    footprint.py MAP ARCHIVE_NAME
"""
import re
import sys
from collections import defaultdict


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: footprint.py MAP ARCHIVE_NAME")
    map_path, archive = sys.argv[1], sys.argv[2]
    with open(map_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    start = text.find("Linker script and memory map")
    if start < 0:
        sys.exit(f"footprint.py: {map_path} has no memory map")
    # An input section line: " .text.name 0xADDR 0xSIZE file" or, when the
    # name is long, the name alone and the rest on the next line.
    entry = re.compile(r"^ (\.(?:text|rodata)\S*)\s*\n?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", re.M)
    member = re.compile(re.escape(archive) + r"\((.+)\)$")
    groups = defaultdict(int)
    for m in entry.finditer(text, start):
        source = member.search(m.group(4).strip())
        if source is None or int(m.group(2), 16) == 0:
            continue
        crate = re.split(r"[-.]", source.group(1), maxsplit=1)[0]
        groups[crate] += int(m.group(3), 16)
    if not groups:
        sys.exit(f"footprint.py: no .text/.rodata from {archive} in {map_path}")
    for crate, size in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {crate:24} {size:8d} bytes")
    total = sum(groups.values())
    print(f"footprint: {archive} .text+.rodata {total} bytes ({total / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
