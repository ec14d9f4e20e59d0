#!/usr/bin/env bash
# bench_audit.sh - bulwark audit vs the Python reference matcher
# (bench/peer_osv_match.py) in the same run: 500 pinned requirements against
# all 2,661 advisories of ../shared/testdata/osv-pypi, database load included.
# Prints a Markdown section. $1 = release build dir, $2 = scratch dir.
set -euo pipefail
build=$1; work=$2
mkdir -p "$work"
src=$(cd "$(dirname "$0")/.." && pwd)
td=${BW_TESTDATA:-$src/../shared/testdata}
db=$td/osv-pypi/vulns
[ -d "$db" ] || { echo "bench_audit: test data absent at $db" >&2; exit 1; }
BW=$build/bulwark
reqs=$work/requirements-500.txt
# 500 distinct pinned requirements taken from the expected-results file (every
# one names a package with advisories: the worst case for the loader)
/usr/bin/python3 - "$td/osv-pypi/test-vectors.json" "$reqs" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["vectors"]
seen, out = set(), []
for x in v:
    k = (x["name"].lower(), x["version"])
    if k in seen:
        continue
    seen.add(k)
    out.append("%s==%s" % (x["name"], x["version"]))
    if len(out) == 500:
        break
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
/usr/bin/python3 - "$BW" "$db" "$reqs" "$src/bench/peer_osv_match.py" <<'PY'
import json, os, resource, statistics, subprocess, sys, time
bw, db, reqs, peer = sys.argv[1:5]

def measure(cmd, runs, ok_rcs=(0, 1, 3)):
    walls, cpus, out = [], [], None
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode not in ok_rcs:
            sys.exit("bench_audit: %s failed: %s" % (cmd[0], p.stderr))
        walls.append(t1 - t0)
        cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
        out = p.stdout
    return statistics.median(walls), statistics.median(cpus), min(walls), out

runs = 15
load0 = os.getloadavg()[0]
base = [bw, "audit", "-q", "--format", "text", "--db", db, "-r", reqs]
fil = measure(base, runs)
one = measure(base + ["--jobs", "1"], runs)
full = measure(base + ["--full-load"], runs)
ref = measure(["/usr/bin/python3", peer, db, reqs], 3, (0,))  # a failing reference is no baseline
start = measure([bw, "--version"], runs, (0,))
load1 = os.getloadavg()[0]
full = full[:3] + (subprocess.run([bw, "audit", "-q", "--full-load", "--format", "json", "--db", db, "-r", reqs],
                                  capture_output=True, text=True).stdout,)

# both tools must agree on every requirement
ours = {}
for p in json.loads(full[3])["packages"]:
    ours[(p["normalized"], p["version"])] = ",".join(sorted(v["id"] for v in p["vulnerabilities"]))
theirs = {}
for line in ref[3].splitlines():
    n, v, ids = (line.split(" ") + [""])[:3]
    theirs[(n, v)] = ids
agree = sum(1 for k in theirs if ours.get(k) == theirs[k])
hits = sum(len(p["vulnerabilities"]) for p in json.loads(full[3])["packages"])
n_reqs = sum(1 for line in open(reqs) if line.strip())
if len(theirs) != n_reqs or agree != n_reqs:
    sys.exit("bench_audit: the tools disagree (%d of %d requirements answered by the reference, %d agree)"
             % (len(theirs), n_reqs, agree))

def ms(x):
    return "%.1f ms" % (x * 1000)

print("## audit: 500 requirements against 2,661 OSV advisories\n")
print("Database load included (a fresh process each run, advisories read from the YAML folder, text report).")
print("Median of %d runs for bulwark, 3 for the reference; CPU = user+sys of the process." % runs)
print("The machine is shared: wall time includes waiting for a core, CPU time does not.\n")
print("| tool | wall (median) | wall (best) | CPU (median) |")
print("|---|---|---|---|")
print("| bulwark audit (loads only advisories that can name a requirement, 2 loader threads) | %s | %s | %s |" % (ms(fil[0]), ms(fil[2]), ms(fil[1])))
print("| bulwark audit --jobs 1 (single thread) | %s | %s | %s |" % (ms(one[0]), ms(one[2]), ms(one[1])))
print("| bulwark audit --full-load (parses all 2,661) | %s | %s | %s |" % (ms(full[0]), ms(full[2]), ms(full[1])))
print("| bulwark --version (process start-up alone: loading libbulwark's shared libraries) | %s | %s | %s |" % (ms(start[0]), ms(start[2]), ms(start[1])))
print("| Python reference (PyYAML %s + packaging) | %s | %s | %s |" % ("C loader" if "CSafe" in open(peer).read() else "", ms(ref[0]), ms(ref[2]), ms(ref[1])))
print()
print("- speed-up, CPU: %.0fx (default), %.0fx (--full-load); wall (best): %.0fx, %.0fx" %
      (ref[1] / fil[1], ref[1] / full[1], ref[2] / fil[2], ref[2] / full[2]))
print("- agreement: %d of %d requirements give the same advisory set in both tools; %d matches in all" %
      (agree, len(theirs), hits))
print("- speed-up, wall (median): %.0fx (default)" % (ref[0] / fil[0]))
print("- machine load: load average %.1f at the start, %.1f at the end, on %d cores (shared machine)" %
      (load0, load1, os.cpu_count()))
met_best = fil[2] < 0.05 and ref[2] / fil[2] >= 20
met_med = fil[0] < 0.05 and ref[0] / fil[0] >= 20
print("- target (under 50 ms wall in total, at least 20x the reference): %s" %
      ("met on median and best wall" if met_med else
       "met on best wall, not on median wall" if met_best else "NOT met on this run"))
print()
PY
