#!/usr/bin/env bash
# Provenance end to end: snapshot a generated dataset, attest a (recorded, not trained) run,
# tamper with the dataset and the code afterwards; lineage and data diff must name exactly
# the tampered files. Also: the snapshot digest is the sha256sum listing; forged
# attestations and edited snapshots are refused.
. "$(dirname "$0")/lib.sh"
cd "$TMP"
"$BW" keygen --out k >/dev/null 2>&1 && ok || bad keygen
"$BW" keygen --out other >/dev/null 2>&1 && ok || bad keygen2
mkdir -p data/train data/test
for i in $(seq 1 40); do echo "$i,$((i*7%13)),label$((i%3))" > "data/train/part-$i.csv"; done
for i in $(seq 1 5); do echo "$i,x" > "data/test/t$i.csv"; done
printf 'import torch\n# training script\n' > train.py
head -c 4096 /dev/urandom > model.safetensors

# the snapshot digest is the sorted sha256sum listing
run "$BW" data snapshot data -o snap0.json; expect_rc 0 snapshot
want=$(cd data && find . -type f | sed 's|^\./||' | LC_ALL=C sort | while read -r f; do sha256sum "$f"; done | sha256sum | cut -c1-64)
expect_err_has "$want" "snapshot digest = sha256sum listing"

run "$BW" attest --key k.priv.pem --output-model model.safetensors --dataset data --code train.py \
    --commit 0123456789abcdef0123456789abcdef01234567 --param lr=0.01 --param epochs=3 \
    --card CARD.md -o run.intoto.json
expect_rc 0 attest
grep -q "lr" CARD.md && grep -q "$(sha256sum model.safetensors | cut -c1-64)" CARD.md && ok || bad "model card content"
/usr/bin/python3 - run.intoto.json <<'PY' && ok || bad "statement structure"
import json,sys,base64
env=json.load(open(sys.argv[1])); assert env["payloadType"]=="application/vnd.in-toto+json"
st=json.loads(base64.b64decode(env["payload"]))
assert st["_type"]=="https://in-toto.io/Statement/v1" and st["predicateType"]=="https://slsa.dev/provenance/v1"
deps=st["predicate"]["buildDefinition"]["resolvedDependencies"]
assert {d["annotations"]["kind"] for d in deps}=={"dataset-snapshot","code","git-commit"}
assert st["predicate"]["buildDefinition"]["externalParameters"]["parameters"]=={"lr":"0.01","epochs":"3"}
PY

run "$BW" lineage model.safetensors --attestation run.intoto.json --key k.pub.pem; expect_rc 0 "lineage intact"

# model cards from the attestation (and the SBOM): Markdown, and CycloneDX valid against the 1.6 schema
schemas="$BW_TESTDATA/cyclonedx-schema"; [ -f "$schemas/bom-1.6.schema.json" ] && ok || bad "cyclonedx schemas ABSENT"
run "$BW" modelcard --attestation run.intoto.json --key k.pub.pem -o card.md; expect_rc 0 "markdown card"
grep -q "epochs" card.md && ok || bad "markdown card lists parameters"
run "$BW" modelcard --attestation run.intoto.json --key k.pub.pem --format cyclonedx -o card.cdx.json
expect_rc 0 "cyclonedx card without sbom"
run "$BW" sbom --check card.cdx.json --schema-dir "$schemas"; expect_rc 0 "card validates (no sbom)"
mkdir -p mdir; cp model.safetensors mdir/; printf -- '---\nlicense: mit\n---\n# m\n' > mdir/README.md
"$BW" sbom mdir > sbom.cdx.json 2>/dev/null && ok || bad "sbom"
run "$BW" modelcard --attestation run.intoto.json --key k.pub.pem --sbom sbom.cdx.json --format cyclonedx -o card2.cdx.json
expect_rc 0 "cyclonedx card from sbom"
run "$BW" sbom --check card2.cdx.json --schema-dir "$schemas"; expect_rc 0 "card from sbom validates"
/usr/bin/python3 - card2.cdx.json <<'PY' && ok || bad "card content: datasets referenced, parameters recorded"
import json,sys
d=json.load(open(sys.argv[1])); comps=d["components"]+[d["metadata"].get("component",{})]
models=[c for c in comps if c.get("type")=="machine-learning-model" and "modelCard" in c]
assert models, "no model component with a card"
mc=models[0]["modelCard"]; refs=[x["ref"] for x in mc["modelParameters"]["datasets"]]
data={c["bom-ref"] for c in d["components"] if c.get("type")=="data"}
assert refs and set(refs)<=data, (refs, data)
props={p["name"]:p["value"] for p in mc["properties"]}
assert props.get("bulwark:param:lr")=="0.01" and props.get("bulwark:param:epochs")=="3", props
PY
run "$BW" modelcard --attestation run.intoto.json --key other.pub.pem; expect_rc 1 "card needs a valid signature"
run "$BW" lineage model.safetensors --attestation run.intoto.json --key other.pub.pem; expect_rc 1 "wrong key"
expect_out_has "signature" "wrong key named"

# tamper: change two files, delete one, add one
echo "999,0,label0" >> data/train/part-7.csv
sed -i 's/x/y/' data/test/t3.csv
rm data/train/part-30.csv
echo "poison" > data/train/part-41.csv
run "$BW" lineage model.safetensors --attestation run.intoto.json --key k.pub.pem --format json
expect_rc 1 "lineage finds tampering"
/usr/bin/python3 - "$OUT" <<'PY' && ok || bad "lineage names exactly the tampered files: $(cat "$OUT")"
import json,sys
d=json.load(open(sys.argv[1])); bad=[l for l in d["links"] if not l["ok"]]
assert len(bad)==1 and bad[0]["kind"]=="dataset", bad
det=bad[0]["detail"]
for s in ["4 files","changed train/part-7.csv","changed test/t3.csv","removed train/part-30.csv","added train/part-41.csv"]:
    assert s in det, (s, det)
PY
run "$BW" data diff snap0.json data --format json; expect_rc 1 "data diff finds tampering"
/usr/bin/python3 - "$OUT" <<'PY' && ok || bad "data diff names exactly the tampered files"
import json,sys
d=json.load(open(sys.argv[1]))
got={(f["change"],f["path"]) for f in d["files"]}
assert got=={("changed","test/t3.csv"),("changed","train/part-7.csv"),("removed","train/part-30.csv"),("added","train/part-41.csv")}, got
PY
# code changed too
echo "# edited" >> train.py
run "$BW" lineage model.safetensors --attestation run.intoto.json --key k.pub.pem; expect_rc 1 "code change"
expect_out_has "FAIL code" "code link failed"
# a model that the attestation does not name
head -c 100 /dev/urandom > other.bin
run "$BW" lineage other.bin --attestation run.intoto.json --key k.pub.pem; expect_rc 1 "other model"
expect_out_has "no subject has this model" "subject mismatch named"
# a forged attestation (payload edited after signing) is refused
/usr/bin/python3 - run.intoto.json <<'PY'
import json,sys,base64
env=json.load(open(sys.argv[1])); st=json.loads(base64.b64decode(env["payload"]))
st["predicate"]["buildDefinition"]["externalParameters"]["parameters"]["lr"]="9"
env["payload"]=base64.b64encode(json.dumps(st).encode()).decode(); json.dump(env,open("forged.json","w"))
PY
run "$BW" lineage model.safetensors --attestation forged.json --key k.pub.pem; expect_rc 1 "forged attestation"
expect_out_has "no signature verifies" "forgery named"
# an edited snapshot no longer matches its digest
/usr/bin/python3 - snap0.json <<'PY'
import json,sys
d=json.load(open(sys.argv[1])); h=d["entries"][0]["sha256"]
d["entries"][0]["sha256"]=("0" if h[0]!="0" else "1")+h[1:]; json.dump(d,open(sys.argv[1],"w"))
PY
run "$BW" data diff snap0.json data; expect_rc 3 "edited snapshot refused"; expect_err_has "edited" "edited snapshot named"
run "$BW" data diff; expect_rc 2 usage
finish
