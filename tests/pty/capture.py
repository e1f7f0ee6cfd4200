"""Runs a program on a pseudo-terminal of its own (standard input, output
and error all on it) and writes everything it showed to our standard output,
then exits with its exit code.

Usage: capture.py FOLDER PROGRAM [ARGS...]   (environment: inherited)
"""
import os, sys, subprocess, select, termios, fcntl

cwd, exe, args = sys.argv[1], sys.argv[2], sys.argv[3:]
master, slave = os.openpty()

def preexec():
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

p = subprocess.Popen([exe] + args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                     preexec_fn=preexec)
os.close(slave)
out = b""
while True:
    r, _, _ = select.select([master], [], [], 0.1)
    if r:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    elif p.poll() is not None:
        break
sys.stdout.buffer.write(out)
sys.exit(p.wait())
