#!/usr/bin/python3
"""bulwark scan on a terminal: colour only when stdout is a terminal (and not with
NO_COLOR, --color never or --output), the progress line only on a terminal stderr
while stdout goes elsewhere; pipes get plain text and no progress line."""
import os
import pickle
import pty
import select
import subprocess
import tempfile

from bwtest import BW, check, done

ESC = "\x1b["


def read_all(fd):
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], 30)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out.decode("utf-8", "replace")


def run_tty(args, stdout_tty, stderr_tty, env_extra=None):
    """Run bulwark with stdout and/or stderr on a pseudo-terminal; returns (rc, stdout, stderr)."""
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.update(env_extra or {})
    master, slave = pty.openpty()
    p = subprocess.Popen([BW, *args], stdin=subprocess.DEVNULL,
                         stdout=slave if stdout_tty else subprocess.PIPE,
                         stderr=slave if stderr_tty else subprocess.PIPE, env=env)
    os.close(slave)
    tty_text = read_all(master)
    os.close(master)
    out = p.stdout.read().decode() if p.stdout else tty_text
    err = p.stderr.read().decode() if p.stderr else tty_text
    rc = p.wait(timeout=60)
    return rc, out, err


with tempfile.TemporaryDirectory() as d:
    for i in range(3):
        with open(os.path.join(d, f"ok{i}.pkl"), "wb") as f:
            pickle.dump({"w": [1.0, 2.0], "i": i}, f, protocol=4)
    with open(os.path.join(d, "bad.pkl"), "wb") as f:
        f.write(b"cos\nsystem\n(S'echo hi'\ntR.")

    # stdout on a terminal: coloured verdicts; exit code unchanged by the terminal
    rc, out, _ = run_tty(["scan", d], stdout_tty=True, stderr_tty=False)
    check(rc == 1, f"tty scan exit {rc}")
    check(ESC in out and "os.system" in out, "colour on a terminal stdout")
    # NO_COLOR and --color never turn it off
    rc, out, _ = run_tty(["scan", d], stdout_tty=True, stderr_tty=False, env_extra={"NO_COLOR": "1"})
    check(rc == 1 and ESC not in out and "os.system" in out, "NO_COLOR: no escape codes")
    rc, out, _ = run_tty(["scan", "--color", "never", d], stdout_tty=True, stderr_tty=False)
    check(rc == 1 and ESC not in out, "--color never: no escape codes")
    # pipes: plain text, no progress line
    p = subprocess.run([BW, "scan", d], capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and ESC not in p.stdout and ESC not in p.stderr and "\r" not in p.stderr,
          "pipes: no colour, no progress line")
    # stdout piped, stderr a terminal: the progress line goes to stderr and is erased at the end
    rc, out, err = run_tty(["scan", d], stdout_tty=False, stderr_tty=True)
    check(rc == 1 and ESC not in out and "os.system" in out, "piped stdout stays plain")
    check("[1/4]" in err and "[4/4]" in err and err.endswith("\r" + ESC + "K"),
          f"progress line on a terminal stderr: {err[-80:]!r}")
    # --output FILE with stdout on a terminal: the report file has no escape codes
    rep = os.path.join(d, "..", os.path.basename(d) + ".txt")
    rc, out, err = run_tty(["scan", "--output", rep, d], stdout_tty=True, stderr_tty=True)
    with open(rep) as f:
        text = f.read()
    os.unlink(rep)
    check(rc == 1 and "os.system" in text and ESC not in text, "--output file: plain text")
    # JSON on a terminal stdout: no escape codes inside the JSON
    rc, out, _ = run_tty(["scan", "--format", "json", d], stdout_tty=True, stderr_tty=False)
    check(rc == 1 and ESC not in out and '"verdict"' in out, "json on a terminal: no colour")
done()
