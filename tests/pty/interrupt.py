"""Runs a program on a pseudo-terminal of its own, waits for its prompt,
presses Ctrl-C, and prints how it ended and whether the terminal's echo is
on afterwards: exit=N echo=True|False prompt=True|False.

Usage: interrupt.py PROMPT_TEXT PROGRAM FOLDER [ARGS...]
"""
import os, sys, pty, termios, time, select, subprocess
want = sys.argv[1].encode()
exe, cwd = sys.argv[2], sys.argv[3]
args = sys.argv[4:]
master, slave = os.openpty()
def preexec():
    os.setsid()
    import fcntl
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
p = subprocess.Popen([exe] + args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=preexec, env={"PATH": os.environ["PATH"], "HOME": cwd})
out = b""
deadline = time.time() + 10
while want not in out and time.time() < deadline:
    r, _, _ = select.select([master], [], [], 0.2)
    if r:
        out += os.read(master, 4096)
time.sleep(0.2)
os.write(master, b"\x03")
code = p.wait(timeout=10)
echo = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
print(f"exit={code} echo={echo} prompt={want in out}")
