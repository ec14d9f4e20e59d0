#!/usr/bin/python3
"""test_formats3_scan.py - the formats of issue 3 through the whole scanner (ctest py.test_formats3_scan).

The unit tests (test_keras, test_hdf5, test_savedmodel, ...) call one parser on one file.
This test runs `$BW scan --format json` on every sample in tests/data/formats3/, so
detection by content, the container recursion (.keras zip -> config.json, .h5 ->
confined libhdf5 worker -> model_config attribute, TorchModuleWrapper -> torch zip ->
pickle) and the rules all take part, and checks for each file:
  - the detected format,
  - honest files: verdict clean, no finding above info;
  - malicious/malformed files: every expected rule id is reported (and the file fails
    at the default --fail-on medium when one of them is medium or above), or the file
    is reported not fully scanned where that is the expected outcome.
Every sample file must be listed here (a new sample without an expectation fails).

Then a model folder laid out as a Hugging Face cache snapshot (links into ../../blobs)
with one file of each format, a pickle checkpoint, a SavedModel folder, one link out of
the folder and one into another repository's blobs: the walk lists every file with its
format, the pickle gets the informational format.pickle-based note, both escapes are
walk.symlink-escape, and nothing else is reported. Last, the scanning process is seen
under its seccomp filter (/proc/PID/status) while it scans. Nothing is ever loaded.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scanjson as sj  # noqa: E402

SRC = os.environ.get("BW_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(SRC, "tests", "data", "formats3")
FAILS = []

CLEAN, INCOMPLETE = "clean", "incomplete"
KERAS_CHECKS = {
    # config case -> rules expected in every form (.json config, .keras zip, legacy .h5)
    "lambda_k3": {"keras.lambda"},
    "lambda_nested": {"keras.lambda"},          # Functional > Sequential > TimeDistributed > Lambda
    "lambda_named_fn": {"keras.lambda", "callable:os"},
    "lambda_arg": {"keras.lambda"},             # a lambda passed as an activation
    "external_module": {"keras.external-module", "callable:os"},
    "get_file": {"keras.unsafe-function"},
    "unsafe_deser": {"keras.unsafe-function", "keras.lambda"},
    "torch_wrapper": {"keras.torch-module-wrapper"},
}

EXPECT = {
    # safetensors
    "st_honest.safetensors": ("safetensors", CLEAN),
    "st_honest_empty.safetensors": ("safetensors", CLEAN),
    "st_overlap.safetensors": ("safetensors", {"safetensors.offsets-overlap"}),
    "st_gap.safetensors": ("safetensors", {"safetensors.offsets-gap"}),
    "st_trailing.safetensors": ("safetensors", {"safetensors.trailing-data"}),
    "st_size_mismatch.safetensors": ("safetensors", {"safetensors.size-mismatch"}),
    "st_oob.safetensors": ("safetensors", {"safetensors.offsets-out-of-bounds"}),
    "st_header_bounds.safetensors": ("safetensors", {"safetensors.header-bounds"}),
    "st_dup_key.safetensors": ("safetensors", {"safetensors.duplicate-key"}),
    "st_bad_dtype.safetensors": ("safetensors", {"safetensors.bad-dtype"}),
    "st_bad_shape.safetensors": ("safetensors", {"safetensors.bad-shape"}),
    "st_overflow.safetensors": ("safetensors", {"safetensors.bad-shape"}),
    "st_bad_tensor_info.safetensors": ("safetensors", {"safetensors.bad-tensor-info"}),
    "st_meta_nonstring.safetensors": ("safetensors", {"safetensors.metadata-type"}),
    "st_meta_code.safetensors": ("safetensors", {"safetensors.metadata-code"}),
    "st_meta_url.safetensors": ("safetensors", {"safetensors.metadata-url"}),
    "st_meta_many.safetensors": ("safetensors", {"safetensors.metadata-limit"}),
    "st_json_invalid.safetensors": ("safetensors", {"safetensors.json-invalid"}),
    # GGUF
    "gguf_honest.gguf": ("gguf", CLEAN),
    "gguf_honest_llama3.gguf": ("gguf", CLEAN),
    "gguf_honest_v1.gguf": ("gguf", CLEAN),
    "gguf_honest_v2.gguf": ("gguf", CLEAN),
    "gguf_ssti_cve.gguf": ("gguf", {"gguf.chat-template-ssti"}),
    "gguf_ssti_attr.gguf": ("gguf", {"gguf.chat-template-ssti"}),
    "gguf_ssti_cycler.gguf": ("gguf", {"gguf.chat-template-ssti"}),
    "gguf_ssti_lipsum.gguf": ("gguf", {"gguf.chat-template-ssti"}),
    "gguf_ssti_include.gguf": ("gguf", {"gguf.chat-template-ssti"}),
    "gguf_overlap.gguf": ("gguf", {"gguf.tensor-overlap"}),
    "gguf_oob.gguf": ("gguf", {"gguf.tensor-out-of-bounds"}),
    "gguf_misaligned.gguf": ("gguf", {"gguf.tensor-misaligned"}),
    "gguf_dup_key.gguf": ("gguf", {"gguf.duplicate-key"}),
    "gguf_dup_tensor.gguf": ("gguf", {"gguf.duplicate-tensor"}),
    "gguf_bad_value_type.gguf": ("gguf", {"gguf.bad-value-type"}),
    "gguf_ndims.gguf": ("gguf", {"gguf.tensor-info"}),
    "gguf_bad_ggml_type.gguf": ("gguf", {"gguf.tensor-info"}),
    "gguf_block_size.gguf": ("gguf", {"gguf.tensor-info"}),
    "gguf_count_bounds.gguf": ("gguf", {"gguf.count-bounds"}),
    "gguf_array_nesting.gguf": ("gguf", {"gguf.array-nesting"}),
    "gguf_bad_alignment.gguf": ("gguf", {"gguf.bad-alignment"}),
    "gguf_truncated.gguf": ("gguf", INCOMPLETE),
    # ONNX
    "onnx_honest_cnn.onnx": ("onnx", CLEAN),        # torch.onnx.export
    "onnx_honest_add.onnx": ("onnx", CLEAN),
    "onnx_honest_external.onnx": ("onnx", CLEAN),   # onnx.save_model(save_as_external_data=True)
    "onnx_honest_external.bin": ("data", CLEAN),
    "onnx_honest_local_function.onnx": ("onnx", CLEAN),
    "onnx_ext_abs.onnx": ("onnx", {"onnx.external-data-path"}),
    "onnx_ext_dotdot.onnx": ("onnx", {"onnx.external-data-path"}),
    "onnx_ext_length.onnx": ("onnx", {"onnx.size-mismatch"}),
    "onnx_custom_domain.onnx": ("onnx", {"onnx.custom-domain"}),
    "onnx_nested_custom.onnx": ("onnx", {"onnx.custom-domain"}),
    "onnx_size_mismatch.onnx": ("onnx", {"onnx.size-mismatch"}),
    "onnx_deep_nesting.onnx": ("onnx", {"onnx.nesting-limit"}),
    # TensorFlow SavedModel and keras_metadata.pb
    "sm_honest.pb": ("tf-savedmodel", CLEAN),       # SaveV2/RestoreV2/MergeV2Checkpoints/vocab table
    "sm_printv2_stderr.pb": ("tf-savedmodel", CLEAN),
    "sm_proto_desc_local.pb": ("tf-savedmodel", CLEAN),
    "sm_pyfunc.pb": ("tf-savedmodel", {"savedmodel.op-python"}),
    "sm_fileio_in_function.pb": ("tf-savedmodel", {"savedmodel.op-file-read", "savedmodel.op-file-write"}),
    "sm_debug.pb": ("tf-savedmodel", {"savedmodel.op-debug"}),
    "sm_debug_v3.pb": ("tf-savedmodel", {"savedmodel.op-debug"}),
    "sm_printv2_file.pb": ("tf-savedmodel", {"savedmodel.op-file-write"}),
    "sm_network.pb": ("tf-savedmodel", {"savedmodel.op-network"}),
    "sm_immutable_const.pb": ("tf-savedmodel", {"savedmodel.op-file-read"}),
    "sm_dataset_io.pb": ("tf-savedmodel", {"savedmodel.op-file-read", "savedmodel.op-file-write"}),
    "sm_proto_desc_file.pb": ("tf-savedmodel", {"savedmodel.op-file-read"}),
    # cut inside its last node: no longer a parseable SavedModel for TensorFlow or for our
    # detection, so it is plain data (the unit test checks the parser reports it incomplete)
    "sm_truncated.pb": ("data", CLEAN),
    "km_honest.pb": ("tf-keras-metadata", CLEAN),
    "km_lambda.pb": ("tf-keras-metadata", {"keras.lambda"}),
    # Keras configs outside the per-case table
    "keras_honest_config.json": ("keras-config", CLEAN),
    "keras_honest_h5_model_config.json": ("keras-config", CLEAN),
    "keras_lambda_h5_model_config.json": ("keras-config", {"keras.lambda"}),
    "keras_deep.json": ("keras-config", INCOMPLETE),
    "keras_invalid.json": ("keras-config", INCOMPLETE),
    "kz_honest.keras": ("keras", CLEAN),
    # legacy .h5 written by h5py: variable-length, fixed-length (Keras 2 writes bytes) and
    # the newest-format attribute layouts, many attributes (dense storage)
    "h5_honest.h5": ("keras-h5", CLEAN),
    "h5_honest_fixed.h5": ("keras-h5", CLEAN),
    "h5_honest_latest.h5": ("keras-h5", CLEAN),
    "h5_lambda.h5": ("keras-h5", {"keras.lambda"}),
    "h5_lambda_fixed.h5": ("keras-h5", {"keras.lambda"}),
    "h5_lambda_latest.h5": ("keras-h5", {"keras.lambda"}),
    "h5_lambda_many_attrs.h5": ("keras-h5", {"keras.lambda"}),
    "h5_dense_attrs.h5": ("keras-h5", {"keras.lambda"}),
    "h5_k2_nested_submodel.h5": ("keras-h5", {"keras.lambda"}),
}
for case, rules in KERAS_CHECKS.items():
    EXPECT["keras_%s.json" % case] = ("keras-config", rules)
    EXPECT["kz_%s.keras" % case] = ("keras", rules)
    EXPECT["h5_%s.h5" % case] = ("keras-h5", rules)

NOT_SAMPLES = {"gen_formats3.py", "recsink.h"}


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


def rule_sev(r):
    return {x["rule"]: x["severity"] for x in r.get("findings", [])}


def samples(extra=()):
    """Every sample against its expectation; returns {file: (verdict, rules)} for comparing runs.
    By default one confined child reads several HDF5 files (replaced after a refused one);
    extra=("--isolate-each-file",) gives each its own child: the results must not change."""
    seen = {}
    files = sorted(f for f in os.listdir(DATA) if f not in NOT_SAMPLES and not f.startswith("__"))
    for f in files:
        check(f in EXPECT, "%s has no expectation in test_formats3_scan.py" % f)
    for f in EXPECT:
        check(f in files, "expected sample %s is missing" % f)
    s = sj.Scan([os.path.join(DATA, f) for f in files if f in EXPECT], timeout=300, extra=extra)
    check(s.report is not None, "%s: no report (rc=%s): %s" % (extra, s.rc, s.stderr[:400]))
    if s.report is None:
        return seen
    for f in files:
        if f not in EXPECT:
            continue
        fmt, want = EXPECT[f]
        r = s.file(os.path.join(DATA, f))
        if r is None:
            check(False, "%s: not in the report" % f)
            continue
        got = rule_sev(r)
        seen[f] = (r.get("verdict"), sorted(got.items()))
        check(r.get("format") == fmt, "%s: format %s, expected %s" % (f, r.get("format"), fmt))
        if want == CLEAN:
            check(r.get("verdict") == "clean" and not sj.findings_at_least(r, "low"),
                  "%s: expected clean: %s" % (f, sj.describe(r)))
        elif want == INCOMPLETE:
            check(r.get("verdict") == "incomplete", "%s: expected not fully scanned: %s" % (f, sj.describe(r)))
        else:
            missing = want - set(got)
            check(not missing, "%s: missing %s: %s" % (f, sorted(missing), sj.describe(r)))
            if any(sj.SEV[got[x]] >= sj.SEV["medium"] for x in want if x in got):
                check(r.get("verdict") in ("findings", "incomplete") and sj.findings_at_least(r, "medium"),
                      "%s: not failing: %s" % (f, sj.describe(r)))
    return seen


def hf_snapshot():
    """A Hugging Face cache layout: snapshots/<rev>/<file> -> ../../blobs/<hash>."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "hub", "models--org--mixed")
        blobs = os.path.join(repo, "blobs")
        snap = os.path.join(repo, "snapshots", "0123456789abcdef")
        os.makedirs(blobs)
        os.makedirs(os.path.join(snap, "saved_model", "variables"))
        os.makedirs(os.path.join(repo, "refs"))
        files = {
            "model.safetensors": ("st_honest.safetensors", "safetensors"),
            "model.onnx": ("onnx_honest_cnn.onnx", "onnx"),
            "model.gguf": ("gguf_honest_llama3.gguf", "gguf"),
            "model.keras": ("kz_honest.keras", "keras"),
            "tf_model.h5": ("h5_honest_fixed.h5", "keras-h5"),
            "saved_model/saved_model.pb": ("sm_honest.pb", "tf-savedmodel"),
        }
        for i, (name, (sample, _)) in enumerate(sorted(files.items())):
            blob = os.path.join(blobs, "%040x" % (i + 1))
            shutil.copy(os.path.join(DATA, sample), blob)
            link = os.path.join(snap, name)
            os.symlink(os.path.relpath(blob, os.path.dirname(link)), link)
        torch.manual_seed(0)
        blob = os.path.join(blobs, "%040x" % 99)
        torch.save(torch.nn.Linear(3, 2).state_dict(), blob)
        os.symlink(os.path.relpath(blob, snap), os.path.join(snap, "pytorch_model.bin"))
        files["pytorch_model.bin"] = (None, "pytorch-zip")
        # a real file, not a link, is fine too
        with open(os.path.join(snap, "saved_model", "variables", "variables.index"), "wb") as f:
            f.write(b"\0" * 64)
        files["saved_model/variables/variables.index"] = (None, "data")
        open(os.path.join(tmp, "outside.txt"), "w").write("secret\n")
        os.symlink(os.path.join(tmp, "outside.txt"), os.path.join(snap, "config.json"))
        # another repository's blobs are not this model's
        other = os.path.join(tmp, "hub", "models--org--other", "blobs")
        os.makedirs(other)
        shutil.copy(os.path.join(DATA, "st_honest.safetensors"), os.path.join(other, "%040x" % 7))
        os.symlink(os.path.relpath(os.path.join(other, "%040x" % 7), snap), os.path.join(snap, "other.safetensors"))

        s = sj.Scan([snap], timeout=120)
        check(s.report is not None, "hf snapshot: no report (rc=%s): %s" % (s.rc, s.stderr[:400]))
        if s.report is None:
            return
        check(s.rc == 1, "hf snapshot: exit %s, expected 1 (the escaping link)" % s.rc)
        for name, (_, fmt) in files.items():
            r = s.file(os.path.join(snap, name))
            if r is None:
                # reports name the path inside the snapshot; realpath lookups resolve links
                r = next((x for x in s.report["files"] if x["path"].endswith("/" + name)), None)
            check(r is not None, "hf snapshot: %s not listed" % name)
            if r is None:
                continue
            check(r.get("format") == fmt, "hf snapshot: %s format %s, expected %s" % (name, r.get("format"), fmt))
            check(r.get("verdict") == "clean", "hf snapshot: %s: %s" % (name, sj.describe(r)))
            notes = set(rule_sev(r))
            if name == "pytorch_model.bin":
                check("format.pickle-based" in notes, "hf snapshot: pickle checkpoint lacks format.pickle-based")
            else:
                check("format.pickle-based" not in notes, "hf snapshot: %s called pickle-based" % name)
        for name in ("config.json", "other.safetensors"):
            esc = [x for x in s.report["files"] if x["path"].endswith("/" + name)]
            check(len(esc) == 1 and esc[0]["findings"] and esc[0]["findings"][0]["rule"] == "walk.symlink-escape",
                  "hf snapshot: escaping link %s not reported: %s" % (name, esc and sj.describe(esc[0])))
        check(len(s.report["files"]) == len(files) + 2,
              "hf snapshot: %d files reported, expected %d" % (len(s.report["files"]), len(files) + 2))


def sandboxed():
    """The scanning process is under seccomp while it scans: its output goes to a pipe nobody
    reads yet, so after ~64 KiB of results it blocks mid-scan and /proc shows its state."""
    import subprocess
    import time

    path = os.path.join(DATA, "st_honest.safetensors")
    p = subprocess.Popen([sj.bw(), "scan", "--fail-on", "critical"] + [path] * 3000,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    mode, deadline = None, time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        try:
            st = open("/proc/%d/status" % p.pid).read()
        except OSError:
            break
        mode = next((ln.split()[1] for ln in st.splitlines() if ln.startswith("Seccomp:")), None)
        if mode == "2":
            break
        time.sleep(0.05)
    out = p.communicate()[0]
    check(mode == "2", "scan process not under a seccomp filter while scanning (Seccomp: %s)" % mode)
    check(p.returncode == 0 and out.count(b": clean") == 3000,
          "sandboxed scan: rc %s, %d clean lines" % (p.returncode, out.count(b": clean")))


def main():
    sj.bw()
    shared = samples()
    isolated = samples(("--isolate-each-file",))
    check(len(shared) > 0 and shared == isolated,
          "--isolate-each-file changed results: %s" %
          sorted(f for f in shared if shared.get(f) != isolated.get(f)))
    hf_snapshot()
    sandboxed()
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
