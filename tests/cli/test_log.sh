#!/usr/bin/env bash
# bulwark log: appends, verification, proofs, tamper detection (edit, remove, reorder,
# insert, checkpoint forgery), and crash safety (writers killed at many points).
. "$(dirname "$0")/lib.sh"
cd "$TMP"
"$BW" keygen --out k >/dev/null 2>&1 && ok || bad keygen
"$BW" keygen --out other >/dev/null 2>&1 && ok || bad "keygen 2"
L=$TMP/log

run "$BW" log init "$L"; expect_rc 0 init
for i in $(seq 0 9); do
  echo "{\"n\": $i, \"decision\": \"allow\"}" | "$BW" log append "$L" --key k.priv.pem >/dev/null 2>"$TMP/e" \
    && ok || bad "append $i: $(cat "$TMP/e")"
done
run "$BW" log verify "$L" --key k.pub.pem; expect_rc 0 "verify intact"; expect_out_has "10 entries, 10 signed checkpoints" verify-text
run "$BW" log verify "$L" --key other.pub.pem; expect_rc 1 "wrong key fails"
run "$BW" log append "$L" --key k.priv.pem <<<'not json'; expect_rc 3 "non-JSON entry refused"

# inclusion and consistency proofs verify standalone; a flipped proof does not
run "$BW" log proof "$L" --entry 3; expect_rc 0 proof; cp "$OUT" incl.json
run "$BW" log verify-proof incl.json; expect_rc 0 "inclusion proof verifies"
/usr/bin/python3 - incl.json <<'PY'
import json,sys,base64
d=json.load(open(sys.argv[1])); h=bytearray(base64.b64decode(d["proof"][0])); h[0]^=1
d["proof"][0]=base64.b64encode(bytes(h)).decode(); json.dump(d,open("bad.json","w"))
PY
run "$BW" log verify-proof bad.json; expect_rc 1 "tampered inclusion proof fails"
run "$BW" log proof "$L" --consistency 4; expect_rc 0 consistency; cp "$OUT" cons.json
run "$BW" log verify-proof cons.json; expect_rc 0 "consistency proof verifies"
run "$BW" log proof "$L" --entry 99; expect_rc 2 "no such entry"
run "$BW" log checkpoint "$L"; expect_rc 0 checkpoint; cp "$OUT" witness.txt

# --- tampering: each must be detected ---
/usr/bin/python3 - "$L/entries" <<'PY'
import struct,sys,zlib
recs=[]; d=open(sys.argv[1],"rb").read(); i=0
while i<len(d):
    n,c=struct.unpack("<II",d[i:i+8]); recs.append(d[i+8:i+8+n]); i+=8+n
def write(name, rs):
    open(name,"wb").write(b"".join(struct.pack("<II",len(r),zlib.crc32(r))+r for r in rs))
edited=list(recs); edited[5]=edited[5].replace(b"allow",b"deny!")
write("edited", edited)
write("removed", recs[:4]+recs[5:])
reordered=list(recs); reordered[2],reordered[3]=reordered[3],reordered[2]; write("reordered", reordered)
write("inserted", recs[:6]+[b'{"n": 99, "decision": "allow"}']+recs[6:])
write("truncated_tail", recs[:8])
raw=bytearray(d); raw[30]^=0x20; open("bitflip","wb").write(bytes(raw))
PY
for t in edited removed reordered inserted truncated_tail bitflip; do
  rm -rf "$TMP/t"; cp -r "$L" "$TMP/t"; cp "$t" "$TMP/t/entries"
  run "$BW" log verify "$TMP/t" --key k.pub.pem
  [ "$RC" -ne 0 ] && ok || bad "tampering '$t' not detected: $(cat "$OUT")"
  grep -q "LOG VERIFICATION FAILED\|edited or corrupted" "$OUT" "$ERR" && ok || bad "tampering '$t': no precise message"
done
# the edit is localised: entries 5..5
rm -rf "$TMP/t"; cp -r "$L" "$TMP/t"; cp edited "$TMP/t/entries"
run "$BW" log verify "$TMP/t" --key k.pub.pem; expect_out_has "entries 5..5" "edit localised"
# a rewritten log (all re-signed with another key) fails against the witness checkpoint and the key
rm -rf "$TMP/t"; "$BW" log init "$TMP/t" >/dev/null; cp "$L/origin" "$TMP/t/origin"
for i in 0 1 2; do echo "{\"n\": $i}" | "$BW" log append "$TMP/t" --key other.priv.pem >/dev/null; done
run "$BW" log verify "$TMP/t" --key k.pub.pem; expect_rc 1 "rewritten log fails"
run "$BW" log verify "$L" --key k.pub.pem --checkpoint witness.txt; expect_rc 0 "witness checkpoint consistent"

# --- crash safety: kill the writer in the middle of each record, many points ---
C=$TMP/crash; "$BW" log init "$C" >/dev/null
for i in $(seq 1 5); do echo "{\"base\": $i}" | "$BW" log append "$C" --key k.priv.pem >/dev/null; done
good=$(wc -c < "$C/entries")
for point in 1003 1007 1020 2005 2050 2100 1001 2001; do
  echo '{"crash": true}' | BW_TLOG_TEST_CRASH=$point "$BW" log append "$C" --key k.priv.pem >/dev/null 2>&1
  run "$BW" log verify "$C" --key k.pub.pem
  [ "$RC" -eq 0 ] && ok || bad "after a crash at $point the log does not verify: $(cat "$OUT")"
  echo '{"after": true}' | "$BW" log append "$C" --key k.priv.pem >/dev/null 2>"$TMP/e" && ok || bad "append after crash $point: $(cat "$TMP/e")"
  run "$BW" log verify "$C" --key k.pub.pem; expect_rc 0 "verify after recovery from $point"
done
# everything appended before any crash is still there, byte for byte
head -c "$good" "$C/entries" | cmp - <(head -c "$good" "$C/entries") && ok || bad "prefix changed"
/usr/bin/python3 - "$C/entries" <<'PY' && ok || bad "base entries lost"
import struct,sys
d=open(sys.argv[1],"rb").read(); i=0; recs=[]
while i<len(d):
    n,c=struct.unpack("<II",d[i:i+8]); recs.append(d[i+8:i+8+n]); i+=8+n
assert [r for r in recs if b"base" in r]==[('{"base": %d}\n'%k).encode() for k in range(1,6)], recs[:6]
PY
# real kills at random moments
for i in $(seq 1 15); do
  (echo "{\"race\": $i}" | timeout -s KILL "0.0$((RANDOM % 9 + 1))" "$BW" log append "$C" --key k.priv.pem >/dev/null 2>&1) || true
done
run "$BW" log verify "$C" --key k.pub.pem; expect_rc 0 "verify after random kills"
finish
