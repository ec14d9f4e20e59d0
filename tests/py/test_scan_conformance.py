#!/usr/bin/python3
"""test_scan_conformance.py - bulwark scan over the shared evaluation corpus (issue 2).

Reads $BW_TESTDATA/corpus/MANIFEST.txt (lines "path | size | EXPECT X | ...") and scans
every listed file in ONE `$BW scan --format json` run (the files are never loaded), then:
  MALICIOUS          : must be failing (a finding at or above medium, i.e. exit 1 alone);
  CLEAN              : must have no finding of severity high or critical
                       (clean, medium-or-lower findings, or incomplete are accepted);
  SUSPICIOUS-CONTENT : recorded only.
Prints the tally and every miss with what bulwark reported; fails unless the tally is complete.
Fails loudly (does not skip) when the corpus is absent.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scanjson as sj  # noqa: E402


def parse_manifest(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = [p.strip() for p in line.rstrip("\n").split(" | ")]
            if len(parts) < 3 or not parts[2].startswith("EXPECT ") or parts[2].startswith("EXPECT ("):
                continue  # not a file row (or the legend line)
            rows.append((parts[0], parts[2][len("EXPECT "):].strip(), parts[3] if len(parts) > 3 else ""))
    return rows


def main():
    sj.bw()
    corpus = os.path.join(sj.testdata(), "corpus")
    man = os.path.join(corpus, "MANIFEST.txt")
    if not os.path.isfile(man):
        print(f"FAIL: {man} is absent; the conformance corpus is required")
        return 1
    rows = parse_manifest(man)
    if not rows:
        print("FAIL: MANIFEST.txt lists no files")
        return 1
    missing = [p for p, _, _ in rows if not os.path.isfile(os.path.join(corpus, p))]
    if missing:
        print(f"FAIL: {len(missing)} listed files are absent, e.g. {missing[:3]}")
        return 1
    s = sj.Scan([os.path.join(corpus, p) for p, _, _ in rows], timeout=180)
    if s.timed_out or s.report is None:
        print(f"FAIL: no report (rc={s.rc}, timeout={s.timed_out}, {s.parse_error}) stderr: {s.stderr[:500]}")
        return 1
    tally = {"MALICIOUS": [0, 0], "CLEAN": [0, 0]}
    susp = []
    fails = []
    for p, exp, what in rows:
        r = s.file(os.path.join(corpus, p))
        if r is None:
            fails.append(f"{p} (EXPECT {exp}): not in the report")
            if exp in tally:
                tally[exp][1] += 1
            continue
        failing = bool(sj.findings_at_least(r, "medium"))
        high = bool(sj.findings_at_least(r, "high"))
        if exp == "MALICIOUS":
            tally[exp][1] += 1
            if failing:
                tally[exp][0] += 1
            else:
                fails.append(f"{p} (EXPECT MALICIOUS; upstream: {what}): {sj.describe(r)}")
        elif exp == "CLEAN":
            tally[exp][1] += 1
            if not high:
                tally[exp][0] += 1
            else:
                fails.append(f"{p} (EXPECT CLEAN; {what}): {sj.describe(r)}")
        else:
            susp.append(f"{p} (EXPECT {exp}): {sj.describe(r, 2)}")
    for line in susp:
        print("RECORD:", line)
    for f in fails:
        print("FAIL:", f)
    print(f"scanned {len(rows)} corpus files in {s.elapsed:.2f}s (exit {s.rc})")
    print(f"MALICIOUS flagged {tally['MALICIOUS'][0]}/{tally['MALICIOUS'][1]}, "
          f"CLEAN not flagged {tally['CLEAN'][0]}/{tally['CLEAN'][1]}, SUSPICIOUS-CONTENT recorded {len(susp)}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
