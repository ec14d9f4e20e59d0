#!/usr/bin/python3
"""test_scan_generators.py - the test generators themselves are right (no bulwark needed).

Runs tests/gen/gen_malicious.py --check (every well-formed stream parses with
pickletools.genops; every expected callable is what the bytes import according to the
independent genops oracle, tests/gen/oracle.py) and checks the case metadata: unique
files, a technique and a reference for each, valid expectations, and that every group
the brief requires is present. Nothing is loaded.
"""
import json
import os
import subprocess
import sys
import tempfile

GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen")
REQUIRED = {
    "direct_os_system.pkl", "direct_posix_system.pkl", "direct_nt_system.pkl", "direct_pip_main.pkl",
    "direct_bdb_Bdb_run.pkl", "direct__io_FileIO.pkl", "nested_pickle_loads.pkl", "nested_torch_load.pkl",
    "gadget_getattr_import.pkl", "gadget_attrgetter.pkl", "gadget_partial.pkl", "gadget_copyreg_reconstructor.pkl",
    "gadget_build_setstate.pkl", "sg_string.pkl", "sg_binunicode8.pkl", "memo_memoize_mixed.pkl",
    "memo_overwrite.pkl", "op_inst.pkl", "op_newobj_ex.pkl", "op_ext4.pkl", "broken_truncated.pkl",
    "concat_benign_then_payload.pkl", "frame_short.pkl", "proto_switch_py2_names.pkl",
    "torch_zip_data_pkl.pt", "zip_bad_crc.pt", "zip_name_mismatch.pt", "zip_dup_benign_first.pt",
    "zip_overlap.pt", "zip_in_tar.tar", "torch_legacy_sys_info.pt", "torch_legacy_tar.pt",
    "joblib_xz.joblib", "object_array.npz", "misleading_ext.safetensors", "dos_billion_laughs.pkl",
    "dos_deep_zip.zip", "dos_many_members.zip",
}


def main():
    fails = []
    with tempfile.TemporaryDirectory(prefix="bw-gen-") as tmp:
        p = subprocess.run(["/usr/bin/python3", os.path.join(GEN, "gen_malicious.py"), tmp, "--check", "--no-big"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stdout, p.stderr)
            print("FAIL: gen_malicious.py --check failed")
            return 1
        cases = json.load(open(os.path.join(tmp, "cases.json")))
        files = [c["file"] for c in cases]
        if len(set(files)) != len(files):
            fails.append("duplicate case files")
        for c in cases:
            if not c["technique"] or not c["reference"]:
                fails.append(f"{c['file']}: technique/reference missing")
            if c["expect"] not in ("callable", "flagged", "not_clean"):
                fails.append(f"{c['file']}: bad expect {c['expect']}")
            if c["expect"] == "callable" and not c["callables"]:
                fails.append(f"{c['file']}: expect=callable without callables")
            if not os.path.getsize(os.path.join(tmp, c["file"])):
                fails.append(f"{c['file']}: empty file")
        for r in sorted(REQUIRED - set(files)):
            fails.append(f"required case {r} missing")
        print(f"{len(cases)} malicious cases generated and checked")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
