"""Holds a conversation with a program on a pseudo-terminal of its own:
follows a script of steps, then prints everything the program showed and
exits with its exit code (99 if a step timed out, with what was shown).

Usage: converse.py FOLDER PROGRAM [ARGS...] -- STEP...
Steps: expect:TEXT (wait until TEXT has been shown since the last expect),
       send:TEXT (type TEXT and Enter), ctrl-c, eof (Ctrl-D).
Environment: inherited.
"""
import os, sys, subprocess, select, termios, fcntl, time

split = sys.argv.index("--")
cwd, exe, args = sys.argv[1], sys.argv[2], sys.argv[3:split]
steps = sys.argv[split + 1:]
master, slave = os.openpty()

def preexec():
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

p = subprocess.Popen([exe] + args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                     preexec_fn=preexec)
os.close(slave)
out = b""

def pump(timeout):
    global out
    r, _, _ = select.select([master], [], [], timeout)
    if r:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        out += chunk
    return True

seen = 0
for step in steps:
    if step.startswith("expect:"):
        want = step[len("expect:"):].encode()
        deadline = time.time() + 20
        while want not in out[seen:]:
            if time.time() > deadline or not pump(0.1):
                sys.stdout.buffer.write(out)
                print(f"\n[converse.py: timed out waiting for {want!r}]")
                p.kill()
                sys.exit(99)
        seen = out.index(want, seen) + len(want)
    elif step.startswith("send:"):
        os.write(master, step[len("send:"):].encode() + b"\r")
    elif step == "ctrl-c":
        os.write(master, b"\x03")
    elif step == "eof":
        os.write(master, b"\x04")
    else:
        sys.exit(f"converse.py: unknown step {step!r}")
deadline = time.time() + 20
while p.poll() is None and time.time() < deadline:
    pump(0.1)
while pump(0.05):
    pass
sys.stdout.buffer.write(out)
if p.poll() is None:
    p.kill()
    print("\n[converse.py: the program did not end]")
    sys.exit(99)
sys.exit(p.returncode)
