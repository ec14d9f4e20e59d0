#!/usr/bin/python3
"""test_sbom_schema.py - bulwark sbom end to end.

* CycloneDX 1.6 and 1.5 output validates against the official schemas in
  ../shared/testdata/cyclonedx-schema (Debian's python3-jsonschema, draft-07,
  format checking on) and against `bulwark sbom --check`;
* the content is right: SHA-256 of every file (checked with hashlib), the
  case-correct SPDX licence id, datasets as data components referenced from
  the model card, hyperparameters, libraries with purls, a complete
  dependency graph (every bom-ref has an entry, every ref exists), lock-file
  edges; output is byte-identical for the same SOURCE_DATE_EPOCH;
* `bulwark sbom --check` reads the schema's own test documents correctly:
  every valid-* example is accepted and every invalid-* one rejected;
* SPDX 3.0.1 JSON-LD: the AI and Dataset profile elements, ids unique,
  relationships point at existing elements.
"""
import datetime
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse

BW = os.environ.get("BW")
TD = os.environ.get("BW_TESTDATA")
if not BW or not TD:
    sys.exit("BW and BW_TESTDATA must be set (run through ctest)")
SD = os.path.join(TD, "cyclonedx-schema")
if not os.path.isdir(SD):
    sys.exit("*** cyclonedx-schema test data ABSENT at %s ***" % SD)

import jsonschema  # noqa: E402
from jsonschema import Draft7Validator, FormatChecker  # noqa: E402

failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what)


def validator(version):
    """draft-07 validator with the sibling schemas (spdx, jsf) resolvable offline."""
    with open(os.path.join(SD, "bom-%s.schema.json" % version)) as f:
        schema = json.load(f)
    store = {}
    for name in ("spdx.schema.json", "jsf-0.82.schema.json", "cryptography-defs.schema.json"):
        p = os.path.join(SD, name)
        if os.path.exists(p):
            with open(p) as f:
                doc = json.load(f)
            store[name] = doc
            if "$id" in doc:
                store[doc["$id"]] = doc
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    return Draft7Validator(schema, resolver=resolver, format_checker=FormatChecker())


def bw(*args, env=None):
    e = dict(os.environ)
    e["SOURCE_DATE_EPOCH"] = "1700000000"
    if env:
        e.update(env)
    return subprocess.run([BW] + list(args), capture_output=True, text=True, env=e)


with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "tiny-bert")
    os.makedirs(os.path.join(model, "onnx"))
    os.makedirs(os.path.join(model, ".git"))
    files = {"model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
             "onnx/model.onnx": b"onnx-bytes", "tokenizer.json": b"{}", ".git/HEAD": b"ref"}
    for rel, data in files.items():
        with open(os.path.join(model, rel), "wb") as f:
            f.write(data)
    with open(os.path.join(model, "config.json"), "w") as f:
        json.dump({"architectures": ["BertForSequenceClassification"], "model_type": "bert",
                   "hidden_size": 128, "num_hidden_layers": 2, "hidden_dropout_prob": 0.1,
                   "_name_or_path": "acme/tiny-bert", "transformers_version": "4.40.0"}, f)
    with open(os.path.join(model, "README.md"), "w") as f:
        f.write("---\nlicense: mit\ndatasets:\n  - imdb\nbase_model: google-bert/bert-base-uncased\n"
                "pipeline_tag: text-classification\nlanguage:\n- en\n---\n# tiny\n")
    files["config.json"] = open(os.path.join(model, "config.json"), "rb").read()
    files["README.md"] = open(os.path.join(model, "README.md"), "rb").read()
    lock = os.path.join(tmp, "poetry.lock")
    with open(lock, "w") as f:
        f.write('[[package]]\nname = "torch"\nversion = "2.0.0+cu117"\n[package.dependencies]\nsympy = "*"\n'
                'typing-extensions = "*"\n\n[[package]]\nname = "sympy"\nversion = "1.12"\n'
                '[package.dependencies]\nmpmath = ">=0.19"\n\n[[package]]\nname = "mpmath"\nversion = "1.3.0"\n\n'
                '[[package]]\nname = "typing_extensions"\nversion = "4.8.0"\n')

    for ver in ("1.6", "1.5"):
        p = bw("sbom", model, "--lock", lock, "--spec-version", ver)
        check(p.returncode == 0, "sbom %s rc %d: %s" % (ver, p.returncode, p.stderr))
        doc = json.loads(p.stdout)
        errs = list(validator(ver).iter_errors(doc))
        for e in errs[:5]:
            print("schema error:", e.message, list(e.absolute_path))
        check(not errs, "CycloneDX %s output validates against bom-%s.schema.json" % (ver, ver))
        out = os.path.join(tmp, "bom-%s.json" % ver)
        with open(out, "w") as f:
            f.write(p.stdout)
        c = bw("sbom", "--check", out, "--schema-dir", SD)
        check(c.returncode == 0 and "valid CycloneDX %s" % ver in c.stdout, "--check accepts our %s output: %s" % (ver, c.stdout))
        check(p.stdout == bw("sbom", model, "--lock", lock, "--spec-version", ver).stdout, "deterministic %s" % ver)

        m = doc["metadata"]["component"]
        check(m["type"] == "machine-learning-model", "model type")
        check(m["name"] == "acme/tiny-bert", "model name from config.json")
        check(m["licenses"][0]["license"]["id"] == "MIT", "licence id case-correct: %s" % m["licenses"])
        mp = m["modelCard"]["modelParameters"]
        check(mp["task"] == "text-classification" and mp["architectureFamily"] == "bert" and
              mp["modelArchitecture"] == "BertForSequenceClassification", "model parameters %s" % mp)
        hp = {x["name"].rsplit(":", 1)[1]: x["value"] for x in m["modelCard"]["properties"]}
        check(hp.get("hidden_size") == "128" and hp.get("hidden_dropout_prob") == "0.1" and
              "transformers_version" not in hp and "_name_or_path" not in hp, "hyperparameters %s" % hp)
        check(m["pedigree"]["ancestors"][0]["name"] == "google-bert/bert-base-uncased", "base model")
        check(m["hashes"][0]["content"] == hashlib.sha256(files["model.safetensors"]).hexdigest(),
              "model hash is the weights file's SHA-256")
        got = {c["name"]: c["hashes"][0]["content"] for c in m["components"]}
        want = {k: hashlib.sha256(v).hexdigest() for k, v in files.items() if not k.startswith(".")}
        check(got == want, "every file hashed, hidden files skipped: %s" % sorted(got))
        comps = {c["bom-ref"]: c for c in doc["components"]}
        ds = [r["ref"] for r in mp["datasets"]]
        check(all(comps.get(r, {}).get("type") == "data" for r in ds) and ds, "datasets are data components")
        libs = [c for c in doc["components"] if c["type"] == "library"]
        check({c["purl"] for c in libs} == {"pkg:pypi/torch@2.0.0%2Bcu117", "pkg:pypi/sympy@1.12",
                                            "pkg:pypi/mpmath@1.3.0", "pkg:pypi/typing-extensions@4.8.0"},
              "library purls %s" % sorted(c["purl"] for c in libs))
        refs = set(comps) | {m["bom-ref"]} | {c["bom-ref"] for c in m["components"]}
        dep = {d["ref"]: d["dependsOn"] for d in doc["dependencies"]}
        check(set(dep) == refs, "every bom-ref has a dependency entry")
        check(all(t in refs for ts in dep.values() for t in ts), "every dependsOn target exists")
        check(set(dep[m["bom-ref"]]) == set(ds) | {"pkg:pypi/torch@2.0.0%2Bcu117"}, "model -> datasets + top-level package: %s" % dep[m["bom-ref"]])
        check(set(dep["pkg:pypi/torch@2.0.0%2Bcu117"]) == {"pkg:pypi/sympy@1.12", "pkg:pypi/typing-extensions@4.8.0"}, "lock edges")
        check(dep["pkg:pypi/sympy@1.12"] == ["pkg:pypi/mpmath@1.3.0"], "transitive edge")

    # every input form of `bulwark sbom`: the libraries it lists (purls), a schema-valid document,
    # a complete graph, and the lock-file edges
    inputs = {
        "requirements.txt": ("-r", "# pins, a range, an include\nJinja2==2.11.2\nrequests>=2.0,<2.1 ; python_version > '3'\n"
                             "-r more.txt\n", {"pkg:pypi/jinja2@2.11.2", "pkg:pypi/requests", "pkg:pypi/numpy@1.26.4"}, {}),
        "freeze.txt": ("-r", "Jinja2==2.11.2\nsomething @ file:///tmp/something-1.0-py3-none-any.whl\n"
                       "-e git+https://github.com/o/r.git@abc#egg=edit_me\n",
                       {"pkg:pypi/jinja2@2.11.2", "pkg:pypi/something@1.0", "pkg:pypi/edit-me"}, {}),
        "pyproject.toml": ("--pyproject", "[project]\nname = \"demo\"\ndependencies = [\"jinja2==2.11.2\"]\n"
                           "[project.optional-dependencies]\ngpu = [\"torch==1.13.0+cu117\"]\n"
                           "[tool.poetry.dependencies]\npython = \"^3.9\"\npillow = \"^9.0\"\n",
                           {"pkg:pypi/jinja2@2.11.2", "pkg:pypi/torch@1.13.0%2Bcu117", "pkg:pypi/pillow"}, {}),
        "uv.lock": ("--lock", "version = 1\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n"
                    "dependencies = [{ name = \"torch\" }]\n[package.optional-dependencies]\ncuda = [{ name = \"sympy\" }]\n"
                    "[package.dev-dependencies]\ndev = [{ name = \"pytest\" }]\n"
                    "[[package]]\nname = \"torch\"\nversion = \"2.0.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n"
                    "dependencies = [\n  { name = \"sympy\", marker = \"python_version < '3.12'\" },\n"
                    "  { name = \"sympy\", marker = \"python_version >= '3.12'\" },\n  { name = \"Typing_Extensions\" },\n]\n"
                    "[[package]]\nname = \"sympy\"\nversion = \"1.12\"\nsource = { registry = \"https://pypi.org/simple\" }\n"
                    "[[package]]\nname = \"typing-extensions\"\nversion = \"4.8.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n"
                    "[[package]]\nname = \"pytest\"\nversion = \"7.4.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n",
                    {"pkg:pypi/app@0.1.0", "pkg:pypi/torch@2.0.0", "pkg:pypi/sympy@1.12", "pkg:pypi/typing-extensions@4.8.0",
                     "pkg:pypi/pytest@7.4.0"},
                    {"pkg:pypi/app@0.1.0": ["pkg:pypi/pytest@7.4.0", "pkg:pypi/sympy@1.12", "pkg:pypi/torch@2.0.0"],
                     "pkg:pypi/torch@2.0.0": ["pkg:pypi/sympy@1.12", "pkg:pypi/typing-extensions@4.8.0"],
                     "model:acme/tiny-bert": ["dataset:imdb", "pkg:pypi/app@0.1.0"]}),
        "pylock.toml": ("--lock", "lock-version = \"1.0\"\ncreated-by = \"test\"\n[[packages]]\nname = \"torch\"\n"
                        "version = \"2.0.0\"\ndependencies = [{ name = \"filelock\" }]\n[[packages]]\nname = \"filelock\"\n"
                        "version = \"3.12.0\"\n",
                        {"pkg:pypi/torch@2.0.0", "pkg:pypi/filelock@3.12.0"},
                        {"pkg:pypi/torch@2.0.0": ["pkg:pypi/filelock@3.12.0"], "pkg:pypi/filelock@3.12.0": [],
                         "model:acme/tiny-bert": ["dataset:imdb", "pkg:pypi/torch@2.0.0"]}),
    }
    with open(os.path.join(tmp, "more.txt"), "w") as f:
        f.write("numpy==1.26.4\n")
    for fname, (opt, text, want_purls, want_edges) in inputs.items():
        path = os.path.join(tmp, fname)
        with open(path, "w") as f:
            f.write(text)
        for fmt in ("cyclonedx", "spdx"):
            p = bw("sbom", model, opt, path, "--format", fmt)
            check(p.returncode == 0, "sbom %s %s: rc %d %s" % (fname, fmt, p.returncode, p.stderr))
            try:
                d = json.loads(p.stdout)
            except ValueError:
                check(False, "sbom %s %s: JSON" % (fname, fmt))
                continue
            if fmt == "spdx":
                got = {e["software_packageUrl"] for e in d["@graph"] if e["type"] == "software_Package"}
                check(got == want_purls, "spdx %s packages %s" % (fname, sorted(got)))
                continue
            errs = list(validator("1.6").iter_errors(d))
            check(not errs, "sbom %s validates: %s" % (fname, [e.message for e in errs[:3]]))
            got = {c["purl"] for c in d["components"] if c["type"] == "library"}
            check(got == want_purls, "sbom %s libraries %s, want %s" % (fname, sorted(got), sorted(want_purls)))
            m = d["metadata"]["component"]
            refs = {c["bom-ref"] for c in d["components"]} | {m["bom-ref"]} | {c["bom-ref"] for c in m["components"]}
            dep = {x["ref"]: x["dependsOn"] for x in d["dependencies"]}
            check(set(dep) == refs and all(t in refs for ts in dep.values() for t in ts),
                  "sbom %s: complete dependency graph" % fname)
            for ref, targets in want_edges.items():
                check(sorted(dep.get(ref, [])) == targets, "sbom %s edge %s -> %s, want %s" % (fname, ref, dep.get(ref), targets))
            if opt != "--lock":  # no graph in the input: every package hangs off the model
                check(set(want_purls) <= set(dep[m["bom-ref"]]), "sbom %s: model -> every package" % fname)

    # licences by name when not SPDX; folder name when nothing else names the model
    other = os.path.join(tmp, "plain-model")
    os.makedirs(other)
    with open(os.path.join(other, "README.md"), "w") as f:
        f.write("---\nlicense: other\nlicense_name: acme-community-license\n---\n")
    with open(os.path.join(other, "weights.bin"), "wb") as f:
        f.write(b"\x80\x02}q\x00.")
    p = bw("sbom", other)
    doc = json.loads(p.stdout)
    check(not list(validator("1.6").iter_errors(doc)), "minimal model validates")
    check(doc["metadata"]["component"]["licenses"][0]["license"]["name"] == "acme-community-license", "licence by name")
    check(doc["metadata"]["component"]["name"] == "plain-model", "name from folder")

    # usage and unreadable inputs
    check(bw("sbom").returncode == 2, "no folder: usage")
    check(bw("sbom", os.path.join(tmp, "nope")).returncode == 3, "missing folder: rc 3")
    bad = os.path.join(tmp, "badcfg")
    os.makedirs(bad)
    with open(os.path.join(bad, "config.json"), "w") as f:
        f.write("{not json")
    check(bw("sbom", bad).returncode == 3, "broken config.json: rc 3")

    # SPDX 3.0.1 JSON-LD
    p = bw("sbom", model, "--lock", lock, "--format", "spdx")
    check(p.returncode == 0, "spdx rc")
    g = json.loads(p.stdout)
    check(g["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "spdx context")
    els = g["@graph"]
    ids = [e["spdxId"] for e in els if "spdxId" in e]
    check(len(ids) == len(set(ids)), "spdx ids unique")
    byid = {e["spdxId"]: e for e in els if "spdxId" in e}
    types = [e["type"] for e in els]
    check("ai_AIPackage" in types and "dataset_DatasetPackage" in types and "software_Sbom" in types and
          "SpdxDocument" in types, "spdx element types %s" % sorted(set(types)))
    doc = [e for e in els if e["type"] == "SpdxDocument"][0]
    check({"ai", "dataset", "core", "software"} <= set(doc["profileConformance"]), "profiles")
    NOASSERTION = "expandedlicensing_NoAssertionLicense"  # an SPDX individual, not a graph element
    rels = [e for e in els if e["type"] == "Relationship"]
    for e in rels:
        check(e["from"] in byid and all(t in byid or t == NOASSERTION for t in e["to"]), "relationship ends exist")
    # AI and Dataset profile conformance: every AI/dataset package has exactly one declared and
    # one concluded licence relationship, each to a licence element or NoAssertionLicense
    lic_types = ("simplelicensing_LicenseExpression", "simplelicensing_SimpleLicensingText")
    for e in els:
        if e["type"] in ("ai_AIPackage", "dataset_DatasetPackage"):
            for rt in ("hasDeclaredLicense", "hasConcludedLicense"):
                rs = [r for r in rels if r["from"] == e["spdxId"] and r["relationshipType"] == rt]
                check(len(rs) == 1 and len(rs[0]["to"]) == 1 and
                      (rs[0]["to"][0] == NOASSERTION or byid.get(rs[0]["to"][0], {}).get("type") in lic_types),
                      "%s %s: exactly one %s (%s)" % (e["type"], e["name"], rt, rs))
    ai = [e for e in els if e["type"] == "ai_AIPackage" and e["name"] == "acme/tiny-bert"][0]
    check(any(h["hashValue"] == hashlib.sha256(files["model.safetensors"]).hexdigest() for h in ai["verifiedUsing"]), "ai hash")
    lic = [e for e in els if e["type"] == "simplelicensing_LicenseExpression"]
    check(lic and lic[0]["simplelicensing_licenseExpression"] == "MIT", "spdx licence")
    rel = {(e["relationshipType"]) for e in els if e["type"] == "Relationship"}
    check({"trainedOn", "dependsOn", "contains", "hasDeclaredLicense", "hasConcludedLicense", "ancestorOf"} <= rel,
          "relationships %s" % rel)
    declared = [r["to"][0] for r in rels if r["from"] == ai["spdxId"] and r["relationshipType"] == "hasDeclaredLicense"]
    check(declared == [lic[0]["spdxId"]], "model declares the MIT licence element: %s" % declared)
    # the model card in the AI profile: task, architecture, hyperparameters, datasets, base model
    check(ai.get("ai_domain") == ["text-classification"], "ai_domain from pipeline_tag: %s" % ai.get("ai_domain"))
    check(ai.get("ai_typeOfModel") == ["bert", "BertForSequenceClassification"], "ai_typeOfModel %s" % ai.get("ai_typeOfModel"))
    hp = {h["key"]: h["value"] for h in ai.get("ai_hyperparameter", [])}
    check(hp.get("hidden_size") == "128" and hp.get("num_hidden_layers") == "2" and hp.get("hidden_dropout_prob") == "0.1"
          and "transformers_version" not in hp and "_name_or_path" not in hp, "ai_hyperparameter %s" % hp)
    ds_el = [e for e in els if e["type"] == "dataset_DatasetPackage"]
    check([e["name"] for e in ds_el] == ["imdb"] and ds_el[0]["dataset_datasetType"], "dataset package imdb")
    trained = [r["to"] for r in rels if r["from"] == ai["spdxId"] and r["relationshipType"] == "trainedOn"]
    check(trained == [[ds_el[0]["spdxId"]]], "model trainedOn imdb: %s" % trained)
    base = [e for e in els if e["type"] == "ai_AIPackage" and e["name"] == "google-bert/bert-base-uncased"]
    check(len(base) == 1 and any(r["from"] == base[0]["spdxId"] and r["relationshipType"] == "ancestorOf" and
                                 r["to"] == [ai["spdxId"]] for r in rels), "base model ancestorOf the model")
    pk = {e["software_packageUrl"]: e["spdxId"] for e in els if e["type"] == "software_Package"}
    check(set(pk) == {"pkg:pypi/torch@2.0.0%2Bcu117", "pkg:pypi/sympy@1.12", "pkg:pypi/mpmath@1.3.0",
                      "pkg:pypi/typing-extensions@4.8.0"}, "spdx packages %s" % sorted(pk))
    sym = [r["to"] for r in rels if r["from"] == pk.get("pkg:pypi/sympy@1.12") and r["relationshipType"] == "dependsOn"]
    check(sym == [[pk.get("pkg:pypi/mpmath@1.3.0")]], "spdx lock edge sympy -> mpmath: %s" % sym)

    # licences from Hugging Face front matter: lower-case SPDX ids come out case-correct, anything
    # else by name, in both formats
    for lic_in, want_id, want_name in (("apache-2.0", "Apache-2.0", None), ("cc-by-nc-sa-4.0", "CC-BY-NC-SA-4.0", None),
                                       ("bsd-3-clause-clear", "BSD-3-Clause-Clear", None),
                                       ("llama2", None, "llama2"), ("openrail++", None, "openrail++")):
        ld = os.path.join(tmp, "lic-" + lic_in.replace("+", "p"))
        os.makedirs(ld)
        with open(os.path.join(ld, "README.md"), "w") as f:
            f.write("---\nlicense: %s\n---\n" % lic_in)
        with open(os.path.join(ld, "model.safetensors"), "wb") as f:
            f.write(b"x")
        cd = json.loads(bw("sbom", ld).stdout)
        got = cd["metadata"]["component"]["licenses"][0]["license"]
        check(got == ({"id": want_id} if want_id else {"name": want_name}), "licence %s -> %s" % (lic_in, got))
        check(not list(validator("1.6").iter_errors(cd)), "licence %s document validates" % lic_in)
        sg = json.loads(bw("sbom", ld, "--format", "spdx").stdout)["@graph"]
        if want_id:
            got = [e["simplelicensing_licenseExpression"] for e in sg if e["type"] == "simplelicensing_LicenseExpression"]
            check(got == [want_id], "spdx licence %s -> %s" % (lic_in, got))
        else:
            got = [e["name"] for e in sg if e["type"] == "simplelicensing_SimpleLicensingText"]
            check(got == [want_name], "spdx licence %s by name -> %s" % (lic_in, got))

# the schema's own test documents, read back by --check: each as its name says
tally = {"1.5": [0, 0], "1.6": [0, 0], "1.7": [0, 0], "skeleton": [0, 0]}
for ver in ("1.5", "1.6"):
    for path in sorted(glob.glob(os.path.join(SD, "examples", ver, "*.json"))):
        name = os.path.basename(path)
        p = bw("sbom", "--check", path, "--schema-dir", SD)
        want = 0 if name.startswith("valid") else 1
        tally[ver][want] += 1
        check(p.returncode == want, "--check %s: rc %d want %d (%s%s)" % (name, p.returncode, want, p.stdout.strip(), p.stderr.strip()))
for path in sorted(glob.glob(os.path.join(SD, "examples", "mlbom-skeleton-*.json"))):
    p = bw("sbom", "--check", path, "--schema-dir", SD)
    tally["skeleton"][0] += 1
    check(p.returncode == 0, "--check %s (ML-BOM skeleton): rc %d %s" % (os.path.basename(path), p.returncode, p.stdout))

# CycloneDX 1.7: the test data has the 1.7 schema but no 1.7 test documents. Every 1.5 and 1.6
# document is relabelled specVersion 1.7 and judged by --check against bom-1.7 and, independently,
# by Python's jsonschema with RFC 3339 date-time and RFC 3986 uri format checks added (Debian's
# jsonschema lacks both: without them it accepts a bad timestamp and rejects the JSF signature
# examples). The two must agree on every document; the oracle must also agree with the upstream
# names of the 1.5/1.6 originals, so it is not vacuous.
oracle_fc = FormatChecker()
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@oracle_fc.checks("date-time")
def _date_time(v):
    if not isinstance(v, str):
        return True
    if not RFC3339.match(v):
        return False
    try:
        datetime.datetime(int(v[0:4]), int(v[5:7]), int(v[8:10]), int(v[11:13]), int(v[14:16]), min(int(v[17:19]), 59))
        return True
    except ValueError:
        return False


@oracle_fc.checks("uri")
def _uri(v):
    return not isinstance(v, str) or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", v) is not None


def oracle(version):
    v = validator(version)
    return Draft7Validator(v.schema, resolver=v.resolver, format_checker=oracle_fc)


def oracle_valid(v, doc):
    try:
        return v.is_valid(doc)
    except TypeError:  # jsonschema fails formatting some additionalItems errors: no verdict
        return None


o17 = oracle("1.7")
flips = []
with tempfile.TemporaryDirectory() as tmp17:
    for ver in ("1.5", "1.6"):
        o_orig = oracle(ver)
        for path in sorted(glob.glob(os.path.join(SD, "examples", ver, "*.json"))):
            name = os.path.basename(path)
            with open(path) as f:
                doc = json.load(f)
            named = name.startswith("valid")
            orig = oracle_valid(o_orig, doc)
            check(orig in (None, named), "oracle on %s says %s" % (name, orig))
            if isinstance(doc, dict) and doc.get("specVersion") == ver:
                doc["specVersion"] = "1.7"
                if "$schema" in doc:
                    doc["$schema"] = "http://cyclonedx.org/schema/bom-1.7.schema.json"
            out = os.path.join(tmp17, name.replace(ver, "1.7-from-" + ver))
            with open(out, "w") as f:
                json.dump(doc, f)
            want = oracle_valid(o17, doc)
            check(want is not None, "oracle verdict on %s" % out)
            if want is None:
                continue
            if want != named:
                flips.append(name)
            p = bw("sbom", "--check", out, "--schema-dir", SD)
            tally["1.7"][0 if want else 1] += 1
            check(p.returncode == (0 if want else 1) and (not want or "valid CycloneDX 1.7" in p.stdout),
                  "--check %s (1.7): rc %d, oracle says %s (%s)" % (name, p.returncode, want, p.stdout.strip()))
check(tally["1.7"][0] > 50 and tally["1.7"][1] > 40, "1.7 set has valid and invalid documents: %s" % tally["1.7"])
for k in ("1.5", "1.6", "1.7", "skeleton"):
    print("--check %s: %d valid accepted, %d invalid rejected (checked)" % (k, tally[k][0], tally[k][1]))
print("1.7 verdicts that differ from the original's name (the 1.7 schema changed the rule): %s" % flips)

# audit --sbom reads every upstream document (and the two ML-BOM skeletons)
# as an independent reading of the same JSON says it should: every pkg:pypi
# purl of metadata.component and of components at any depth is audited, a
# library without a purl is reported (exit 3), a document that is not
# CycloneDX is refused (exit 3).
osvdb = tempfile.mkdtemp()  # a two-advisory database keeps this part fast
for adv in ("jinja2/PYSEC-2021-66.yaml", "torch/PYSEC-2022-43015.yaml"):
    with open(os.path.join(TD, "osv-pypi", "vulns", adv), "rb") as f, \
            open(os.path.join(osvdb, os.path.basename(adv)), "wb") as g:
        g.write(f.read())


def cdx_reading(doc):
    """(pypi purls in document order, libraries without purl) or None when not CycloneDX."""
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        return None
    purls, nopurl = [], 0

    def walk(c):
        nonlocal nopurl
        if not isinstance(c, dict):
            return
        p = c.get("purl")
        if isinstance(p, str) and p.startswith("pkg:pypi/"):
            purls.append(p)
        elif p is None and c.get("type") == "library" and isinstance(c.get("name"), str):
            nopurl += 1
        for sub in c.get("components", []) if isinstance(c.get("components"), list) else []:
            walk(sub)
    md = doc.get("metadata")
    if isinstance(md, dict):
        walk(md.get("component"))
    for c in doc.get("components", []) if isinstance(doc.get("components"), list) else []:
        walk(c)
    return purls, nopurl


n_sbom_docs = n_sbom_purls = 0
for path in sorted(glob.glob(os.path.join(SD, "examples", "1.*", "*.json"))) + \
        sorted(glob.glob(os.path.join(SD, "examples", "*.json"))):
    name = os.path.basename(path)
    with open(path) as f:
        want = cdx_reading(json.load(f))
    p = bw("audit", "-q", "--db", osvdb, "--format", "json", "--sbom", path)
    n_sbom_docs += 1
    if want is None:
        check(p.returncode == 3 and "not a CycloneDX document" in p.stderr, "audit --sbom %s: refused, rc %d" % (name, p.returncode))
        continue
    purls, nopurl = want
    n_sbom_purls += len(purls)
    try:
        got = json.loads(p.stdout)["packages"]
    except (ValueError, KeyError):
        got = None
    check(got is not None, "audit --sbom %s: JSON report (rc %d, %s)" % (name, p.returncode, p.stderr[-200:]))
    if got is None:
        continue
    wanted = [(urllib.parse.unquote(u[9:].split("@")[0].split("?")[0]),
               urllib.parse.unquote(u[9:].split("@")[1].split("?")[0].split("#")[0]) if "@" in u else None) for u in purls]
    check([(x["name"], x["version"]) for x in got] == wanted, "audit --sbom %s: packages %s, want %s" % (name, got, wanted))
    vulnerable = any(x["vulnerabilities"] for x in got)
    want_rc = 1 if vulnerable else 3 if nopurl else 0
    check(p.returncode == want_rc, "audit --sbom %s: rc %d want %d" % (name, p.returncode, want_rc))
    check(p.stderr.count("has no purl: not audited") == nopurl, "audit --sbom %s: %d libraries without purl reported" % (name, nopurl))
check(n_sbom_purls >= 4, "some documents name PyPI packages (%d)" % n_sbom_purls)
print("audit --sbom: %d documents, %d pypi purls" % (n_sbom_docs, n_sbom_purls))

for fn in os.listdir(osvdb):
    os.unlink(os.path.join(osvdb, fn))
os.rmdir(osvdb)
print("%d checks, %d failures" % (checks, failures))
sys.exit(1 if failures else 0)
