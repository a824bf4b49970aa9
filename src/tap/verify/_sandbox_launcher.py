"""Start a sandboxed Python program (run as `python -I -S -B _sandbox_launcher.py ARGS_JSON`).

Trusted code that runs before the runner, inside bubblewrap when the parent found it. Applies OS
limits: CPU seconds, address space, file size, open files and (once the process no longer runs as
root) process count. Outside bubblewrap it also enters a fresh network namespace with no interfaces
where the kernel allows it, and, when started as root, becomes the user `nobody` so that file
permissions apply. Then it writes the walls in force as the first, unsigned line of the status pipe
(`walls bubblewrap,no network,...`; the program has not run yet, so that line is the launcher's) and
replaces itself with the runner. Kept free of TAP imports: it runs in `-I -S` mode.
"""

import ctypes
import json
import os
import resource
import sys

CLONE_NEWNET = 0x40000000
NOBODY = 65534


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))


def _own_network() -> bool:
    """A network namespace with no interfaces, where the kernel allows this process to make one."""
    try:
        return ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) == 0
    except OSError:
        return False


def main() -> None:
    args = json.loads(sys.argv[1])
    walls = list(args["walls"])
    _limit(resource.RLIMIT_CPU, args["cpu_s"])
    _limit(resource.RLIMIT_AS, args["memory_mb"] << 20)
    _limit(resource.RLIMIT_FSIZE, args["file_mb"] << 20)
    _limit(resource.RLIMIT_NOFILE, 64)
    _limit(resource.RLIMIT_CORE, 0)
    if args["own_network"] and _own_network():
        walls.append("no network")
    if args["drop_privileges"]:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        walls.append("user nobody")
    _limit(resource.RLIMIT_NPROC, args["max_processes"])
    walls.append("rlimits")
    os.write(args["status_fd"], ("walls " + ",".join(walls) + "\n").encode())
    python = args["python"]
    os.execv(python, [python, "-I", "-S", "-B", args["runner"], args["root"], str(args["status_fd"])])


if __name__ == "__main__":
    main()
