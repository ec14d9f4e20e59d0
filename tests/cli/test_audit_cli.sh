#!/bin/bash
# test_audit_cli.sh - bulwark audit end to end: inputs of every kind, output
# formats, --ignore with expiry, --fail-on, exit codes, stderr diagnostics,
# zip and JSON databases, and the edge cases the advisories contain.
set -u
: "${BW:?run through ctest}" "${BW_TESTDATA:?run through ctest}"
DB="$BW_TESTDATA/osv-pypi/vulns"
[ -d "$DB" ] || { echo "*** osv-pypi test data ABSENT at $DB ***"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0; n=0
ok() { n=$((n+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
expect_rc() { # want cmd...
	local want=$1; shift
	"$@" >"$T/out" 2>"$T/err"; local rc=$?
	if [ "$rc" = "$want" ]; then ok; else bad "rc $rc want $want: $*"; sed 's/^/  err: /' "$T/err" | head -5; fi
}
has() { if grep -q -- "$1" "$T/$2"; then ok; else bad "'$1' not in $2"; sed 's/^/  | /' "$T/$2" | head -20; fi; }
hasnt() { if grep -q -- "$1" "$T/$2"; then bad "'$1' unexpectedly in $2"; else ok; fi; }

# --- usage
expect_rc 2 "$BW" audit
has "nothing to audit" err
expect_rc 2 "$BW" audit -r /dev/null
has "no OSV database" err
expect_rc 2 "$BW" audit --db "$DB" --format xml --package a==1
expect_rc 2 "$BW" audit --db "$DB" --fail-on severe --package a==1
expect_rc 2 "$BW" audit --update-db
has "all.zip" err
expect_rc 0 "$BW" help audit
has "usage: bulwark audit" out

# --- clean and vulnerable pins
expect_rc 0 "$BW" audit -q --db "$DB" --package 'jinja2==2.11.3' --package 'torch==1.13.1'
has "0 vulnerable" out
expect_rc 1 "$BW" audit -q --db "$DB" --package 'Jinja2==2.11.2'
has "PYSEC-2021-66" out
has "2.11.3" out

# --- edge cases named by the issue
# local version +cu117 is inside the range (1.13.0+cu117 < 1.13.1), not in the list
expect_rc 1 "$BW" audit -q --db "$DB" --format json --package 'torch==1.13.0+cu117'
has '"matched_by": \[' out
has '"ranges"' out
# pre-releases outside every range still match when the advisory lists them
expect_rc 1 "$BW" audit -q --db "$DB" --package 'django==4.2rc1'
has "PYSEC-2023-61" out
# non-PEP 440 version: matched by the versions list, reported, not dropped
expect_rc 1 "$BW" audit -q --db "$DB" --package 'buildbot==0.8.4p1'
has "PYSEC-2019-6" out
has "not PEP 440" out
# non-PEP 440 and unlisted: nothing matches, but the audit says it was incomplete (exit 3)
expect_rc 3 "$BW" audit -q --db "$DB" --package 'binderhub==0.2.0-n653'
has "not PEP 440" out
# git range before the version range (torch advisory): the ECOSYSTEM range decides
expect_rc 1 "$BW" audit -q --db "$DB" --package 'torch==1.13.0'
has "PYSEC-2022-43015" out

# --- ranges: every allowed version the advisory names, and said so
expect_rc 1 "$BW" audit -q --db "$DB" --package 'pillow>=9.0,<9.1'
has "range allows affected" out
has "9.0.1" out
has "not pinned" out

# --- ignore with expiry
expect_rc 0 "$BW" audit -q --db "$DB" --package 'Jinja2==2.11.2' --ignore PYSEC-2021-66
has "1 ignored" out
expect_rc 0 "$BW" audit -q --db "$DB" --package 'Jinja2==2.11.2' --ignore CVE-2020-28493:2030-01-01 --today 2026-01-01
expect_rc 1 "$BW" audit -q --db "$DB" --package 'Jinja2==2.11.2' --ignore PYSEC-2021-66:2025-01-01 --today 2026-01-01
has "expired" out
expect_rc 2 "$BW" audit -q --db "$DB" --package 'Jinja2==2.11.2' --ignore PYSEC-2021-66:tomorrow

# --- fail-on: an advisory with a CVSS score below the threshold passes; unknown severity always fails
grep -l "CVSS_V3" -r "$DB" >/dev/null || bad "no CVSS advisories in the data"
expect_rc 1 "$BW" audit -q --db "$DB" --format json --package 'aiohttp==3.8.0'
sev=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sorted({v["severity"] for p in d["packages"] for v in p["vulnerabilities"]}))' "$T/out")
echo "aiohttp 3.8.0 severities: $sev"
expect_rc 1 "$BW" audit -q --db "$DB" --fail-on critical --package 'Jinja2==2.11.2'

# --- input formats
cat >"$T/requirements.txt" <<'REQ'
# a comment
-r more.txt
--index-url https://example.invalid/simple
Jinja2==2.11.2 \
    --hash=sha256:0000
numpy>=1.0 ; python_version >= "3.8"
./local/path
REQ
printf 'torch==1.13.0\n-c more.txt\n' >"$T/more.txt"
expect_rc 1 "$BW" audit -q --db "$DB" -r "$T/requirements.txt"
has "local path requirement" err
"$BW" audit -q --db "$DB" --format json -r "$T/requirements.txt" >"$T/out" 2>/dev/null
has '"normalized": "torch"' out
has '"normalized": "jinja2"' out
has 'requirements.txt:4' out
cat >"$T/pyproject.toml" <<'TOML'
[project]
name = "demo"
dependencies = ["jinja2==2.11.2", "requests>=2.0,<2.1"]
[project.optional-dependencies]
gpu = ["torch==1.13.0"]
[tool.poetry.dependencies]
python = "^3.9"
pillow = "^9.0"
TOML
expect_rc 1 "$BW" audit -q --db "$DB" --format json --pyproject "$T/pyproject.toml"
has '"specifier": ">=9.0,<10"' out
has '"normalized": "torch"' out
has 'PYSEC-2021-66' out      # jinja2 from [project].dependencies
has 'PYSEC-2022-43015' out   # torch from [project.optional-dependencies]
has 'PYSEC-2023-' out        # pillow ^9.0 (Poetry) is a range: advisories inside it
cat >"$T/poetry.lock" <<'TOML'
[[package]]
name = "jinja2"
version = "2.11.2"
description = "x"

[package.dependencies]
MarkupSafe = ">=0.23"

[[package]]
name = "markupsafe"
version = "2.0.1"
TOML
expect_rc 1 "$BW" audit -q --db "$DB" --lock "$T/poetry.lock"
has "PYSEC-2021-66" out
cat >"$T/uv.lock" <<'TOML'
version = 1
[[package]]
name = "torch"
version = "1.13.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "typing-extensions" },
]
[[package]]
name = "demo"
source = { editable = "." }
TOML
expect_rc 1 "$BW" audit -q --db "$DB" --lock "$T/uv.lock"
has "PYSEC-2022-43015" out
cat >"$T/pylock.toml" <<'TOML'
lock-version = "1.0"
created-by = "test"
[[packages]]
name = "jinja2"
version = "2.11.3"
[[packages]]
name = "py"
version = "1.11.0"
TOML
expect_rc 1 "$BW" audit -q --db "$DB" --lock "$T/pylock.toml"
has "PYSEC-2022-42969" out
hasnt "PYSEC-2021-66" out
pip_freeze="$T/freeze.txt"
printf 'Jinja2==2.11.2\nsomething @ file:///tmp/x.whl\n-e git+https://github.com/a/b.git@abc#egg=bee\n' >"$pip_freeze"
expect_rc 1 "$BW" audit -q --db "$DB" --format json -r "$pip_freeze"
# the URL and editable lines are audited by name (no version: every advisory-named version), not dropped
/usr/bin/python3 - "$T/out" <<'PY' && ok || bad "pip freeze lines in the JSON report"
import json, sys
d = {p["normalized"]: p for p in json.load(open(sys.argv[1]))["packages"]}
assert set(d) == {"jinja2", "something", "bee"}, sorted(d)
assert d["jinja2"]["version"] == "2.11.2" and d["jinja2"]["status"] == "vulnerable"
for n in ("something", "bee"):
    assert d[n]["version"] is None and d[n]["specifier"] == "" and "no version" in d[n]["note"], d[n]
PY
# an SBOM as input (the cyclonedx report of a previous run)
"$BW" audit -q --db "$DB" --format cyclonedx --package 'Jinja2==2.11.2' >"$T/bom.json" 2>/dev/null
expect_rc 1 "$BW" audit -q --db "$DB" --sbom "$T/bom.json"
has "PYSEC-2021-66" out

# an SPDX 3 SBOM as input (bulwark sbom --format spdx)
mkdir -p "$T/m"; printf 'w' >"$T/m/model.safetensors"
printf 'Jinja2==2.11.2\ntorch==1.13.0+cu117\n' >"$T/m.txt"
"$BW" sbom "$T/m" -r "$T/m.txt" --format spdx >"$T/bom.spdx.json" 2>/dev/null
expect_rc 1 "$BW" audit -q --db "$DB" --format json --sbom "$T/bom.spdx.json"
has "PYSEC-2021-66" out
has "PYSEC-2022-43015" out
"$BW" sbom "$T/m" -r "$T/m.txt" >"$T/bom.cdx.json" 2>/dev/null
expect_rc 1 "$BW" audit -q --db "$DB" "$T/bom.cdx.json"
has "PYSEC-2022-43015" out

# a model folder wider than the old fixed walk stack (2,048 pending folders): every file listed
mkdir -p "$T/wide"
for i in $(seq 1 2100); do mkdir "$T/wide/d$i"; printf 'x' >"$T/wide/d$i/f.bin"; done
expect_rc 0 "$BW" sbom "$T/wide" -o "$T/wide.cdx.json"
/usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["metadata"]["component"]["components"]; fs=sorted(x["name"] for x in c if x["type"]=="file"); assert fs==sorted("d%d/f.bin" % i for i in range(1,2101)), len(fs)' "$T/wide.cdx.json" && ok || bad "sbom lists the files of 2,100 folders"

# --- databases: zip dump, JSON advisories, broken advisory reported (exit 3 when nothing fails)
mkdir -p "$T/db/sub"
cat >"$T/db/sub/X-1.json" <<'JSON'
{"id": "X-1", "summary": "test", "affected": [{"package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.2"}]}]}],
 "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}
JSON
cat >"$T/db/X-2.yaml" <<'YAML'
id: X-2
withdrawn: '2024-01-01T00:00:00Z'
affected:
- package: {ecosystem: PyPI, name: demo-pkg}
  versions: ['1.1']
YAML
printf "id: [broken demo-pkg\n" >"$T/db/broken.yaml"  # mentions the package, so it is parsed
expect_rc 1 "$BW" audit -q --db "$T/db" --format json --package 'demo.pkg==1.2'
has '"X-1"' out
has '"score": 9.8' out
has '"severity": "critical"' out
hasnt '"X-2"' out
has "broken.yaml" err
expect_rc 3 "$BW" audit -q --db "$T/db" --package 'demo.pkg==1.2.1'
expect_rc 0 "$BW" audit -q --db "$T/db/sub" --package 'demo.pkg==1.2.1'
expect_rc 0 "$BW" audit -q --db "$T/db/sub" --fail-on critical --package 'demo.pkg==0.9'
(cd "$T/db/sub" && /usr/bin/python3 -c 'import zipfile; z=zipfile.ZipFile("../all.zip","w"); z.write("X-1.json"); z.close()')
expect_rc 1 "$BW" audit -q --db "$T/db/all.zip" --package 'demo-pkg==1.1'
has "X-1" out
expect_rc 3 "$BW" audit -q --db "$T/nonexistent" --package 'a==1'
has "cannot load the OSV database" err

echo "$n passed, $fail failed"
[ "$fail" = 0 ]
