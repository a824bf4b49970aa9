"""Run an untrusted program under a Python audit hook (`python -I -S -B runner ROOT FD PROGRAM`).

The hook is a second wall behind the OS limits the launcher set: it ends the process at once
(reporting why on the status pipe) when the program creates a process, opens a socket, loads
native code through ctypes, reads another process's environment, or writes outside ROOT.
The status pipe carries "ok" only when the whole program ran to its end.
"""

import os
import sys

ROOT = os.path.realpath(sys.argv[1])
STATUS_FD = int(sys.argv[2])
PROGRAM = sys.argv[3]

_PROCESS_EVENTS = {
    "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "os.startfile",
    "subprocess.Popen", "pty.spawn",
}
_PATH_EVENTS = {
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
    "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile", "os.chdir",
}
_NATIVE_MODULES = {"_posixsubprocess", "_ctypes", "ctypes", "multiprocessing", "_multiprocessing", "pty", "_socket"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _report(message: str) -> None:
    try:
        os.write(STATUS_FD, message.encode()[:4000])
    except OSError:
        pass


def _stop(reason: str) -> None:
    _report(reason)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a broken stream must not hide the reason
            pass
    os._exit(97)


def _inside(path) -> bool:
    if isinstance(path, int):
        return True
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    full = os.path.realpath(os.path.join(ROOT, str(path)))
    return full == ROOT or full.startswith(ROOT + os.sep)


def _hook(event: str, args: tuple) -> None:
    if event in _PROCESS_EVENTS:
        _stop(f"forbidden: process creation ({event})")
    elif event.startswith("socket."):
        _stop(f"forbidden: network access ({event})")
    elif event == "import" and args[0].split(".")[0] in _NATIVE_MODULES:
        _stop(f"forbidden: importing {args[0]}")
    elif event.startswith("ctypes."):
        _stop(f"forbidden: native code ({event})")
    elif event == "open":
        path, mode, flags = args
        if isinstance(path, (str, bytes)) and "environ" in os.fsdecode(path) and os.fsdecode(path).startswith("/proc"):
            _stop(f"forbidden: reading a process environment ({os.fsdecode(path)})")
        writes = (mode and any(c in mode for c in "wax+")) or (flags or 0) & _WRITE_FLAGS
        if writes and not _inside(path):
            _stop(f"forbidden: write outside the sandbox ({os.fsdecode(path) if not isinstance(path, int) else path})")
    elif event in _PATH_EVENTS:
        for path in args[:2]:
            if isinstance(path, (str, bytes)) and not _inside(path):
                _stop(f"forbidden: file system change outside the sandbox ({event} {os.fsdecode(path)})")


def main() -> None:
    with open(PROGRAM) as handle:
        source = handle.read()
    code = compile(source, "program.py", "exec")
    sys.dont_write_bytecode = True
    sys.addaudithook(_hook)
    namespace = {"__name__": "__main__"}
    try:
        exec(code, namespace)
    except SystemExit as exc:
        _report(f"failed: the program exited before its end (SystemExit {exc.code!r})")
        sys.stdout.flush()
        os._exit(1)
    except MemoryError:
        _stop("memory limit exceeded")
    except BaseException as exc:  # the program's own failure, reported as its reason
        _report(f"failed: {type(exc).__name__}: {exc}")
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    _report("ok")
    os._exit(0)


if __name__ == "__main__":
    main()
