#!/usr/bin/env python3
"""Fails when lib/ breaks its layering: a file includes GStreamer, names a lib header without
its layer folder, or includes from a layer above its own. The order of the layers is read from
lib/meson.build (llamavid_layers), the one place it is written."""
import pathlib
import re
import sys

lib = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "lib")
order = re.search(r"llamavid_layers = \[([^\]]*)\]", (lib / "meson.build").read_text())
layers = re.findall(r"'(\w+)'", order.group(1))
rank = {name: i for i, name in enumerate(layers)}
include = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]', re.M)

problems = []
for path in sorted(lib.rglob("*")):
    if path.suffix not in (".h", ".cpp") or path.parent.name == "pch":
        continue
    own = path.relative_to(lib).parts[0]
    if own not in rank:
        problems.append(f"{path}: outside the layer folders {layers}")
        continue
    for kind, name in include.findall(path.read_text()):
        if kind == "<" and (name.startswith("gst/") or name.startswith("glib")):
            problems.append(f"{path}: includes <{name}>; lib/ is free of GStreamer")
        if kind != '"':
            continue
        folder = name.split("/")[0] if "/" in name else None
        if folder not in rank:
            problems.append(f'{path}: "{name}" names no layer folder')
        elif rank[folder] > rank[own]:
            problems.append(f'{path}: layer {own} includes "{name}" from {folder}, a higher layer')

for p in problems:
    print(p)
print(f"{len(problems)} layering problem(s) in {lib}")
sys.exit(1 if problems else 0)
