"""Start a sandboxed Python program (run as `python -I -S -B _sandbox_launcher.py ARGS_JSON`).

Applies OS limits, then replaces itself with the runner: CPU seconds, address space, file size,
open files and (once the process no longer runs as root) process count; a fresh network namespace
with no interfaces where the kernel allows it; and, when started as root, the unprivileged
user `nobody` so that file permissions apply. Kept free of TAP imports: it runs in `-I -S` mode.
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


def main() -> None:
    args = json.loads(sys.argv[1])
    _limit(resource.RLIMIT_CPU, args["cpu_s"])
    _limit(resource.RLIMIT_AS, args["memory_mb"] << 20)
    _limit(resource.RLIMIT_FSIZE, args["file_mb"] << 20)
    _limit(resource.RLIMIT_NOFILE, 64)
    _limit(resource.RLIMIT_CORE, 0)
    isolated = False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        isolated = libc.unshare(CLONE_NEWNET) == 0
    except OSError:
        pass
    if args["drop_privileges"]:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    _limit(resource.RLIMIT_NPROC, args["max_processes"])
    os.environ["TAP_SANDBOX_NETNS"] = "1" if isolated else "0"
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-B", args["runner"], args["root"], str(args["status_fd"]), args["program"]])


if __name__ == "__main__":
    main()
