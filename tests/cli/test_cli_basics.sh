#!/usr/bin/env bash
# CLI conventions shared by every subcommand: help, version, usage errors, exit codes.
. "$(dirname "$0")/lib.sh"

run "$BW" --version;            expect_rc 0 version; expect_out_has "bulwark 0." version
run "$BW" --help;               expect_rc 0 help; expect_out_has "scan" help
run "$BW";                      expect_rc 2 "no command"; expect_err_has "usage:" "no command"
run "$BW" frobnicate;           expect_rc 2 "unknown command"; expect_err_has "unknown command" "unknown command"
run "$BW" help scan;            expect_rc 0 "help scan"; expect_out_has "--fail-on" "help scan"
run "$BW" help nope;            expect_rc 2 "help unknown"
run "$BW" scan;                 expect_rc 2 "scan without path"; expect_err_has "no PATH" "scan without path"
run "$BW" scan --format xml x;  expect_rc 2 "bad format"; expect_err_has "unknown format" "bad format"
run "$BW" scan --fail-on severe x; expect_rc 2 "bad severity"
run "$BW" scan --threads 0 x;   expect_rc 2 "bad threads"
run "$BW" scan --bogus x;       expect_rc 2 "unknown option"

# A plain data file is clean: exit 0, text names it.
printf 'just some bytes\n' > "$TMP/data.bin"
run "$BW" scan "$TMP/data.bin"; expect_rc 0 "data file"; expect_out_has "clean" "data file"
run "$BW" scan --quiet "$TMP/data.bin"; expect_rc 0 "quiet clean"; expect_out_empty "quiet clean"

# Missing file: not scanned -> 3, and never "clean".
# bytes no format claims, under a name that promises a model format: never clean
cp "$TMP/data.bin" "$TMP/model.safetensors"; printf '\n\005hello' >"$TMP/saved_model.pb"
run "$BW" scan "$TMP/model.safetensors"; expect_rc 3 "unrecognized .safetensors"
expect_out_has "format.unrecognized" "unrecognized .safetensors"; expect_out_has "NOT FULLY SCANNED" "unrecognized .safetensors"
run "$BW" scan "$TMP/saved_model.pb"; expect_rc 3 "unrecognized saved_model.pb"; expect_out_has "SavedModel" "unrecognized saved_model.pb"
rm -f "$TMP/model.safetensors" "$TMP/saved_model.pb"
run "$BW" scan "$TMP/missing.pt"; expect_rc 3 "missing file"; expect_out_has "NOT FULLY SCANNED" "missing file"
grep -q ": clean" "$OUT" && bad "missing file reported clean" || ok

# A FIFO inside a folder is not opened (no hang) and is reported not scanned.
mkdir -p "$TMP/dir/sub"; mkfifo "$TMP/dir/pipe"; cp "$TMP/data.bin" "$TMP/dir/sub/a.bin"
run timeout 20 "$BW" scan --format json "$TMP/dir"; expect_rc 3 "fifo in folder"
expect_out_has "not a regular file" "fifo reason"

# Symlink escaping the folder: finding, not followed.
mkdir -p "$TMP/m"; ln -s /etc/hostname "$TMP/m/escape"; cp "$TMP/data.bin" "$TMP/m/ok.bin"
run "$BW" scan --format json --fail-on high "$TMP/m"; expect_rc 1 "symlink escape"
expect_out_has '"walk.symlink-escape"' "symlink escape finding"

# Hugging Face cache snapshot: files are links into ../../blobs; that is not an escape.
hf="$TMP/hub/models--org--model"; mkdir -p "$hf/blobs" "$hf/snapshots/abc123" "$hf/refs"
cp "$TMP/data.bin" "$hf/blobs/0123abcd"; ln -s ../../blobs/0123abcd "$hf/snapshots/abc123/config.json"
ln -s /etc/hostname "$hf/snapshots/abc123/evil"
run "$BW" scan --format json "$hf/snapshots/abc123"; expect_rc 1 "hf snapshot with one real escape"
/usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); f={x["path"].rsplit("/",1)[1]:x for x in d["files"]}
assert f["config.json"]["verdict"]=="clean", f["config.json"]
assert f["evil"]["findings"][0]["rule"]=="walk.symlink-escape"' "$OUT" && ok || bad "hf cache layout: $(head -c 600 "$OUT")"

# JSON is valid and versioned; SARIF 2.1.0 has the driver and rules.
run "$BW" scan --format json "$TMP/data.bin"; expect_rc 0 json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["schema"]=="bulwark.scan/1" and d["summary"]["files"]==1' "$OUT" && ok || bad "json schema"
run "$BW" scan --format sarif "$TMP/m"; expect_rc 1 sarif
/usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["version"]=="2.1.0"; run=d["runs"][0]
assert run["tool"]["driver"]["name"]=="bulwark"
ids=[r["id"] for r in run["tool"]["driver"]["rules"]]
assert all(res["ruleId"] in ids for res in run["results"]) and run["results"]
assert all("security-severity" in r["properties"] for r in run["tool"]["driver"]["rules"])' "$OUT" && ok || bad "sarif structure"

# --output writes the report to a file, nothing on stdout.
run "$BW" scan --format json --output "$TMP/report.json" "$TMP/data.bin"; expect_rc 0 output
expect_out_empty output; [ -s "$TMP/report.json" ] && ok || bad "output file empty"

# A custom rule file with an error is refused with its line number.
printf 'deny os critical | r | -\nforbid x high | r | -\n' > "$TMP/bad.rules"
run "$BW" scan --rules "$TMP/bad.rules" "$TMP/data.bin"; expect_rc 2 "bad rules"; expect_err_has "bad.rules:2" "bad rules line"

# Every subcommand has help, and the man page lists every subcommand.
for c in $(sed -n 's/^BW_CMD(\([a-z]*\),.*/\1/p' "$BW_SRC/cli/commands.def"); do
  run "$BW" help "$c"; expect_rc 0 "help $c"; expect_out_has "usage: bulwark $c" "help $c usage line"
  grep -qx ".B $c" "$BW_SRC/docs/bulwark.1" && ok || bad "man page lacks command $c"
done

# libhdf5 and OpenBLAS are loaded on demand (worker / tensor engine), never at start-up.
if ldd "$BW" | grep -E 'libhdf5|libopenblas|libdnnl|libgomp|libarchive|libxml2|libicu' >/dev/null; then bad "bulwark links libhdf5, libopenblas, libdnnl or libarchive at start-up"; else ok; fi
finish
