#!/usr/bin/python3
"""peer_osv_match.py - the Python reference matcher for bench_audit.sh.

Does what a careful Python tool does: load every OSV advisory of a folder with
PyYAML (the C loader when available), index PyPI entries by PEP 503 name, and
for each pinned requirement apply the OSV rule with packaging.version
(listed version, or inside an ECOSYSTEM range walked in sorted event order;
withdrawn advisories skipped; versions PEP 440 cannot parse only match the
list). Prints one line per requirement: "name version ID,ID,..." so the
benchmark can check both tools agree.
usage: peer_osv_match.py DB_DIR REQUIREMENTS
"""
import os
import re
import sys

import yaml

try:
    from packaging.version import InvalidVersion, Version
except ImportError:  # Debian without python3-packaging: the copy pip vendors (the test vectors were made with it)
    from pip._vendor.packaging.version import InvalidVersion, Version

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(v):
    try:
        return Version(v)
    except InvalidVersion:
        return None


def load(db):
    index = {}
    for root, _dirs, files in os.walk(db):
        for fn in files:
            if not fn.endswith((".yaml", ".yml", ".json")):
                continue
            with open(os.path.join(root, fn), "rb") as f:
                doc = yaml.load(f, Loader=Loader)
            if not isinstance(doc, dict) or doc.get("withdrawn"):
                continue
            for a in doc.get("affected", []):
                pkg = a.get("package", {})
                if pkg.get("ecosystem") != "PyPI":
                    continue
                ranges = []
                for r in a.get("ranges", []):
                    if r.get("type") != "ECOSYSTEM":
                        continue
                    evs = []
                    for e in r.get("events", []):
                        (kind, val), = e.items()
                        pv = None if (kind == "introduced" and val == "0") else parse(str(val))
                        if pv is None and not (kind == "introduced" and val == "0"):
                            continue
                        evs.append((kind, pv))
                    # "0" first, then by version; stable for ties
                    evs.sort(key=lambda e: (e[1] is not None, e[1] or Version("0")))
                    ranges.append(evs)
                index.setdefault(norm(pkg["name"]), []).append(
                    (doc["id"], set(str(v) for v in a.get("versions", [])), ranges))
    return index


def affected(v, ranges):
    for evs in ranges:
        vuln = False
        for kind, ev in evs:
            if kind == "introduced" and (ev is None or v >= ev):
                vuln = True
            elif kind in ("fixed", "limit") and v >= ev:
                vuln = False
            elif kind == "last_affected" and v > ev:
                vuln = False
        if vuln:
            return True
    return False


def main():
    db, reqs = sys.argv[1], sys.argv[2]
    index = load(db)
    out = []
    with open(reqs) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if "==" not in line:
                continue
            name, ver = [s.strip() for s in line.split("==", 1)]
            pv = parse(ver)
            ids = set()
            for vid, versions, ranges in index.get(norm(name), []):
                if ver in versions or (pv is not None and affected(pv, ranges)):
                    ids.add(vid)
            out.append("%s %s %s" % (norm(name), ver, ",".join(sorted(ids))))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
