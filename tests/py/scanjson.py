"""scanjson.py - shared helpers for the Python scan tests (tests/py/test_scan_*.py).

Runs `$BW scan --format json` as a subprocess and indexes the report
(schema bulwark.scan/1, docs/scan-json.md) by file path. It never loads,
unpickles or imports any scanned file.
"""
import json
import os
import subprocess
import sys
import time

SEV = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen")


def bw():
    b = os.environ.get("BW")
    if not b or not os.access(b, os.X_OK):
        sys.exit(f"FAIL: BW (the bulwark binary) must be set and executable; got {b!r}. Run through ctest.")
    return b


def testdata():
    d = os.environ.get("BW_TESTDATA") or os.path.join(os.environ.get("BW_SRC", "."), "..", "shared", "testdata")
    if not os.path.isdir(d):
        sys.exit(f"FAIL: test data directory {d!r} is absent (set BW_TESTDATA); this test does not skip")
    return d


class Scan:
    """One `bulwark scan --format json` run: rc, elapsed seconds, parsed report, stderr."""

    def __init__(self, paths, timeout=120.0, extra=()):
        cmd = [bw(), "scan", "--format", "json", *extra, *paths]
        t0 = time.monotonic()
        self.timed_out = False
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout)
            self.rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            self.rc, out, err = None, e.stdout or b"", e.stderr or b""
            self.timed_out = True
        self.elapsed = time.monotonic() - t0
        self.stderr = err.decode("utf-8", "replace")
        self.report = None
        self.parse_error = None
        if out:
            try:
                self.report = json.loads(out)
            except ValueError as e:
                self.parse_error = f"{e}: {out[:300]!r}"
        self.by_path = {}
        for f in (self.report or {}).get("files", []):
            self.by_path[os.path.realpath(f["path"])] = f

    def file(self, path):
        return self.by_path.get(os.path.realpath(path))


def findings_at_least(fileres, sev):
    return [x for x in fileres.get("findings", []) if SEV.get(x.get("severity"), -1) >= SEV[sev]]


def callables(fileres):
    return {x.get("callable") for x in fileres.get("findings", []) if x.get("callable")}


def describe(fileres, limit=4):
    """One line: verdict, max severity and the first findings (rule callable severity)."""
    if fileres is None:
        return "not in the report"
    parts = [f"verdict={fileres.get('verdict')} max={fileres.get('max_severity')}"]
    inc = fileres.get("incomplete")
    if inc:
        parts.append(f"incomplete({inc.get('reason')} @ {inc.get('location')}:{inc.get('offset')})")
    for x in fileres.get("findings", [])[:limit]:
        parts.append(f"[{x.get('severity')} {x.get('rule')} {x.get('callable') or ''}]".replace(" ]", "]"))
    n = len(fileres.get("findings", []))
    if n > limit:
        parts.append(f"(+{n - limit} more)")
    return " ".join(parts)
