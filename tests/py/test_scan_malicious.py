#!/usr/bin/python3
"""test_scan_malicious.py - every technique in tests/gen/gen_malicious.py must be caught (issue 2).

Generates the cases (raw pickle bytes, archives; never loaded) into a temp dir and scans
each file with its own `$BW scan --format json FILE` (a hang guard of BW_SCAN_TIMEOUT seconds), then per case:
  expect=callable : exit 1 and every name in "callables" is a finding's "callable"
                    ("a|b" accepts either);
  expect=flagged  : exit 1;
  expect=not_clean: exit 1 or 3 and a verdict other than clean (denial-of-service shapes);
  always          : finishes within 10 s, exit code in {1, 3} only as above, never a crash.
Missing "bonus" callables (e.g. the inner payload of pickle.loads) are printed, not failed.
Set BW_MAL_ONLY=substring to run a subset; BW_MAL_BIG=0 skips the 1 GiB zip bomb.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scanjson as sj  # noqa: E402

# A hang guard, not a speed test (make bench measures speed): a DoS case must finish inside
# this even on a loaded shared machine; sanitizer builds run several times slower.
TIMEOUT = float(os.environ.get("BW_SCAN_TIMEOUT", "300" if "/asan/" in os.environ.get("BW", "") else "120"))


def judge(c, s, r):
    """Return a failure string, or None when the case passed."""
    if s.timed_out:
        return f"scan took longer than {TIMEOUT:.0f}s"
    if s.rc not in (0, 1, 2, 3):
        return f"crashed: exit {s.rc} stderr {s.stderr[:200]!r}"
    if s.report is None:
        return f"no JSON report (exit {s.rc}, {s.parse_error}) stderr {s.stderr[:200]!r}"
    if r is None:
        return "file missing from the report"
    if c["expect"] == "not_clean":
        if s.rc not in (1, 3) or r.get("verdict") == "clean":
            return f"reported clean-ish: exit {s.rc}, {sj.describe(r)}"
        return None
    if s.rc != 1:
        return f"exit {s.rc}, expected 1: {sj.describe(r)}"
    got = sj.callables(r)
    missing = [want for want in c["callables"] if not set(want.split("|")) & got]
    if missing:
        return f"callable(s) {missing} not named; got {sorted(got)}: {sj.describe(r)}"
    return None


def group(fname):
    """Case group from the file name prefix (direct_, gadget_, zip_, dos_ ...)."""
    head = fname.split("_", 1)[0].split(".", 1)[0]
    return head if "_" in fname else "wrapped"


def main():
    sj.bw()
    only = os.environ.get("BW_MAL_ONLY")
    fails, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bw-mal-") as tmp:
        cmd = ["/usr/bin/python3", os.path.join(sj.GEN, "gen_malicious.py"), tmp]
        if os.environ.get("BW_MAL_BIG", "1") == "0":
            cmd.append("--no-big")
        if only:
            cmd += ["--only", only]
        subprocess.run(cmd, check=True)
        with open(os.path.join(tmp, "cases.json")) as f:
            cases = json.load(f)

        def one(c):
            p = os.path.join(tmp, c["file"])
            s = sj.Scan([p], timeout=TIMEOUT)
            return c, s, s.file(p)

        slowest = []
        groups = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            for c, s, r in ex.map(one, cases):
                why = judge(c, s, r)
                slowest.append((s.elapsed, c["file"]))
                grp = groups.setdefault(group(c["file"]), [0, 0])
                grp[1] += 1
                grp[0] += 0 if why else 1
                if why:
                    fails.append(f"{c['file']} [{c['technique']}; ref {c['reference']}]: {why}")
                elif r is not None:
                    gotc = sj.callables(r)
                    for b in c["bonus"]:
                        if not set(b.split("|")) & gotc:
                            notes.append(f"{c['file']}: passed, but {b} (bonus) not named")
        by_kind = {}
        for c in cases:
            by_kind.setdefault(c["expect"], 0)
            by_kind[c["expect"]] += 1
        slowest.sort(reverse=True)
        print("by group: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(groups.items())))
        print("slowest scans: " + ", ".join(f"{f} {t:.2f}s" for t, f in slowest[:5]))
    for n in notes:
        print("NOTE:", n)
    for f in fails:
        print("FAIL:", f)
    print(f"malicious cases caught: {len(cases) - len(fails)}/{len(cases)} (by expectation: {by_kind})")
    return 1 if fails or not cases else 0


if __name__ == "__main__":
    sys.exit(main())
