"""A child subreaper for the end-to-end tests: run one command (Patroni) and reap every orphan below it.

Usage: python3 reaper.py PIDFILE -- COMMAND [ARGS...]

Patroni starts the postmaster the way pg_ctl does: through a helper process that exits at once, so
the postmaster is re-parented to the nearest subreaper, normally init. In a container or micro-VM
whose PID 1 does not reap children, a postmaster that exits (killed by a test, or stopped) stays a
zombie, and psutil's is_running() -- which Patroni relies on -- keeps calling it running. This
process marks itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so orphans come to it, and
reaps them.

It writes COMMAND's pid to PIDFILE, forwards SIGTERM, SIGINT, SIGHUP and SIGQUIT to it, and exits
once it has no child left at all (COMMAND and any postmaster it left behind), with COMMAND's exit
status (128 + signal number when COMMAND was killed by a signal).
"""
import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def main():
    if len(sys.argv) < 4 or sys.argv[2] != '--':
        sys.stderr.write('usage: reaper.py PIDFILE -- COMMAND [ARGS...]\n')
        return 2
    pidfile, command = sys.argv[1], sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write('reaper: prctl(PR_SET_CHILD_SUBREAPER) failed: errno %d\n' % ctypes.get_errno())
        return 2
    child = subprocess.Popen(command)
    with open(pidfile + '.tmp', 'w') as f:
        f.write('%d\n' % child.pid)
    os.rename(pidfile + '.tmp', pidfile)

    def forward(signum, _frame):
        try:
            os.kill(child.pid, signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(s, forward)

    result = 0
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return result
        if pid == child.pid:
            child.returncode = 0  # keep subprocess from waiting on it again
            if os.WIFSIGNALED(status):
                result = 128 + os.WTERMSIG(status)
            else:
                result = os.WEXITSTATUS(status)
            sys.stderr.write('reaper: %s exited with %d\n' % (command[0], result))
            sys.stderr.flush()


if __name__ == '__main__':
    sys.exit(main())
