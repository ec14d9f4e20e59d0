#!/usr/bin/python3
"""Consistency checks of the pickle machine's data against their references:
- src/formats/pickle/pk_compat.c holds exactly CPython's _compat_pickle
  IMPORT_MAPPING and NAME_MAPPING (what the unpickler applies for protocol < 3);
- every anomaly id the machine emits is defined in rules/20-pickle-anomalies.rules
  and every pickle.* anomaly defined there is emitted somewhere.
"""
import _compat_pickle
import glob
import os
import re
import sys

src = os.environ.get("BW_SRC")
if not src:
    sys.exit("BW_SRC is not set (run through ctest)")
fails = []

text = open(os.path.join(src, "src/formats/pickle/pk_compat.c")).read()
mods = dict(re.findall(r'^\t\{"([^"]+)", "([^"]+)"\},$', text, re.M))
names = {(a, b): (c, d) for a, b, c, d in
         re.findall(r'^\t\{"([^"]+)", "([^"]+)", "([^"]+)", "([^"]+)"\},$', text, re.M)}
if mods != _compat_pickle.IMPORT_MAPPING:
    fails.append("IMPORT_MAPPING differs: %r" % (set(mods.items()) ^ set(_compat_pickle.IMPORT_MAPPING.items())))
if names != _compat_pickle.NAME_MAPPING:
    fails.append("NAME_MAPPING differs: %r" % (set(names.items()) ^ set(_compat_pickle.NAME_MAPPING.items())))
# binary search needs byte order
if list(mods) != sorted(mods) or list(names) != sorted(names):
    fails.append("pk_compat.c tables are not sorted")

emitted = set()
for f in glob.glob(os.path.join(src, "src/formats/pickle/*.c")):
    emitted |= set(re.findall(r'"(pickle\.[a-z0-9-]+)"', open(f).read()))
rules = open(os.path.join(src, "rules/20-pickle-anomalies.rules")).read()
defined = set(re.findall(r"^anomaly (pickle\.[a-z0-9-]+) (info|low|medium|high|critical) \|", rules, re.M))
defined = {d[0] if isinstance(d, tuple) else d for d in defined}
for r in sorted(emitted - defined):
    fails.append("rule %s is emitted but not defined" % r)
for r in sorted(defined - emitted):
    fails.append("rule %s is defined but never emitted" % r)

for f in fails:
    print("FAIL:", f)
print("%d import mappings, %d name mappings, %d anomaly ids; %d failures" %
      (len(mods), len(names), len(emitted), len(fails)))
sys.exit(1 if fails else 0)
