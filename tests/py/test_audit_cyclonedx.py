#!/usr/bin/python3
"""test_audit_cyclonedx.py - bulwark audit --format cyclonedx and --format sarif
output validated against the CycloneDX 1.6 schema in ../shared/testdata
(Debian's python3-jsonschema, draft-07 with format checking), plus structural
checks of the SARIF 2.1.0 output. Fails loudly if the test data is absent."""
import json
import os
import subprocess
import sys
import tempfile

BW = os.environ.get("BW")
TD = os.environ.get("BW_TESTDATA")
if not BW or not TD:
    sys.exit("BW and BW_TESTDATA must be set (run through ctest)")
SCHEMA_DIR = os.path.join(TD, "cyclonedx-schema")
DB = os.path.join(TD, "osv-pypi", "vulns")
for p in (SCHEMA_DIR, DB):
    if not os.path.isdir(p):
        sys.exit("*** test data ABSENT: %s ***" % p)

import jsonschema  # noqa: E402
from jsonschema import Draft7Validator, FormatChecker  # noqa: E402

try:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7
    HAVE_REFERENCING = True
except ImportError:  # older jsonschema
    HAVE_REFERENCING = False


def validator(version):
    with open(os.path.join(SCHEMA_DIR, "bom-%s.schema.json" % version)) as f:
        schema = json.load(f)
    side = {}
    for name in ("spdx.schema.json", "jsf-0.82.schema.json", "cryptography-defs.schema.json"):
        path = os.path.join(SCHEMA_DIR, name)
        if os.path.exists(path):
            with open(path) as f:
                side[name] = json.load(f)
    if HAVE_REFERENCING:
        reg = Registry()
        for name, doc in side.items():
            res = Resource.from_contents(doc, default_specification=DRAFT7)
            reg = reg.with_resource(name, res)
            if "$id" in doc:
                reg = reg.with_resource(doc["$id"], res)
        return Draft7Validator(schema, registry=reg, format_checker=FormatChecker())
    resolver = jsonschema.RefResolver.from_schema(schema, store={**side, **{d.get("$id", n): d for n, d in side.items()}})
    return Draft7Validator(schema, resolver=resolver, format_checker=FormatChecker())


failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def run(args, want_rc=None):
    p = subprocess.run([BW, "audit", "-q", "--db", DB] + args, capture_output=True, text=True)
    if want_rc is not None:
        check(p.returncode == want_rc, "%s: rc %d, want %d (stderr %s)" % (args, p.returncode, want_rc, p.stderr))
    return p


with tempfile.TemporaryDirectory() as tmp:
    req = os.path.join(tmp, "requirements.txt")
    with open(req, "w") as f:
        f.write("Jinja2==2.11.2\ntorch==1.13.0+cu117\nbuildbot==0.8.4p1\npillow>=9.0,<9.1\nrequests==2.31.0\n"
                "cryptography==3.2\n")
    v16 = validator("1.6")

    p = run(["-r", req, "--format", "cyclonedx"], 1)
    doc = json.loads(p.stdout)
    errs = sorted(v16.iter_errors(doc), key=str)
    for e in errs[:5]:
        print("schema error:", e.message, list(e.absolute_path))
    check(not errs, "cyclonedx vulnerabilities document validates against bom-1.6")
    ids = {v["id"] for v in doc["vulnerabilities"]}
    check("PYSEC-2021-66" in ids and "PYSEC-2022-43015" in ids and "PYSEC-2019-6" in ids, "expected ids %s" % ids)
    refs = {c["bom-ref"] for c in doc["components"]}
    for v in doc["vulnerabilities"]:
        for a in v["affects"]:
            check(a["ref"] in refs, "affects ref %s names a component" % a["ref"])
    rated = [v for v in doc["vulnerabilities"] if "ratings" in v]
    check(len(rated) > 0, "some advisories carry a CVSS rating")
    # reproducible: same input, same bytes
    p2 = run(["-r", req, "--format", "cyclonedx"], 1)
    check(p.stdout == p2.stdout, "cyclonedx output is deterministic")

    # the schema validator itself rejects a broken document (guards against a vacuous test)
    bad = dict(doc)
    bad["vulnerabilities"] = [{"id": 5}]
    check(not v16.is_valid(bad), "validator rejects a broken document")

    s = json.loads(run(["-r", req, "--format", "sarif"], 1).stdout)
    check(s["version"] == "2.1.0", "sarif version")
    res = s["runs"][0]["results"]
    rules = s["runs"][0]["tool"]["driver"]["rules"]
    check(len(res) >= 3, "sarif results")
    for r in res:
        check(rules[r["ruleIndex"]]["id"] == r["ruleId"], "ruleIndex points at its rule")
        check(r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1, "result has a line")

    j = json.loads(run(["-r", req, "--format", "json"], 1).stdout)
    byname = {p["normalized"]: p for p in j["packages"]}
    check(byname["buildbot"]["pep440"] is False, "buildbot version flagged as not PEP 440")
    check(byname["torch"]["vulnerabilities"][0]["matched_by"] == ["ranges"], "torch local version via ranges")
    check(byname["jinja2"]["fix"] == "2.11.3", "jinja2 fix suggestion")
    check(byname["pillow"]["specifier"] == ">=9.0,<9.1", "pillow range kept as specifier")
    check(all(v["affected_versions_allowed"] for v in byname["pillow"]["vulnerabilities"]),
          "range requirement lists the affected versions it allows")

print("%s" % ("ok" if failures == 0 else "%d failures" % failures))
sys.exit(1 if failures else 0)
