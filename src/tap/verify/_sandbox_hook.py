"""The audit hook: the sandbox's Python-level walls, and the only holder of the verdict's key.

The hook is a closure made in the runner before any program code runs. It holds the nonce that
signs every status message, and it is referenced afterwards only by the interpreter's list of
hooks, which no Python code can read. It binds every function it calls when it is made, so
patching `os.write` or a builtin does not reach it. It signs a message only for the runner's own
`tap.*` events: those that carry the runner's token and come from the runner's frames. Walls, by
how they act:

- stop the program with a reason: process creation, sockets, native code (`ctypes`, extension
  modules from outside the Python installation, bytecode that did not come from it), signals to
  other processes, writes outside the sandbox folder, symbolic links, device nodes, directories
  opened outside the folder, anything under /proc;
- raise, so that standard-library code that tries and falls back keeps working: frames
  (`sys._getframe`, tracebacks' `tb_frame`, `gi_frame`, ...), tracing, other audit hooks, heap
  walks, new code objects, assigning `__code__`, reads outside the folder and the Python installation.
Doors to frames that raise no audit event (signal handlers, gc debugging, threads, fresh built-in
modules) are shut by `close_side_doors` before the program runs.

An audit hook is not a security boundary against native exploits; the OS walls stand in front of it.
Runs in the sandbox under `-I -S`: standard library only.
"""

import _io
import os
import sys

STOP_EVENTS = {
    **dict.fromkeys(("os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "os.startfile",
                     "subprocess.Popen", "pty.spawn"), "process creation"),
    **dict.fromkeys(("sqlite3.enable_load_extension", "sqlite3.load_extension"), "native code"),
    "os.killpg": "signalling other processes",
    "os.symlink": "symbolic links",
}
PATH_EVENTS = {  # event -> how many of its first arguments are paths that must stay inside the folder
    **dict.fromkeys(("os.rename", "os.link", "shutil.copyfile", "shutil.move"), 2),
    **dict.fromkeys(("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
                     "os.setxattr", "os.removexattr", "shutil.rmtree", "os.chdir"), 1),
}
LISTING_EVENTS = frozenset({"os.listdir", "os.scandir", "os.walk", "os.fwalk", "glob.glob"})
INTROSPECTION_EVENTS = frozenset({
    "sys._getframe", "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
    "sys.addaudithook", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "_thread.start_new_thread",
    "code.__new__",
})
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
FORBIDDEN_MODULES = frozenset(
    {"ctypes", "multiprocessing", "_multiprocessing", "_posixsubprocess", "_posixshmem", "pty", "_socket"}
)
FORBIDDEN_PREFIXES = ("_ctypes", "_test", "_xx")
PROCESS_FILES = frozenset({"mem", "environ", "pagemap"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
READABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
RUNNER_EVENTS = {"tap.started": "started", "tap.report": "fail", "tap.finished": "ok"}


def forbidden(module_name: str) -> bool:
    """A module whose import stops the program: it could start processes, open sockets or run native code."""
    top = module_name.partition(".")[0]
    return top in FORBIDDEN_MODULES or module_name in FORBIDDEN_MODULES or top.startswith(FORBIDDEN_PREFIXES)


def _refuse(*args, **kwargs):
    raise ValueError("not available in the code sandbox (signal handlers and gc debugging hand out frames)")


def _no_tracing(function):
    """sys.settrace / sys.setprofile: a tracer receives frames, so only None (no tracer: as now) is taken."""
    if function is not None:
        raise ValueError("tracing is not available in the code sandbox")


def _no_threads(*args, **kwargs):
    """_thread.start_new_thread (3.11 raises no audit event for it): a second thread could run program
    code while the hook is busy with its own work, and read the hook's frames."""
    raise RuntimeError("threads are not available in the code sandbox")


def _refuse_builtin(spec):
    raise ImportError(f"the code sandbox creates no built-in module after it starts ({getattr(spec, 'name', spec)!r})")


def close_side_doors() -> tuple:
    """Shut the doors to frames that no audit event guards; returns gc's (isenabled, disable, enable).

    Every built-in module is imported now and `_imp.create_builtin` is replaced, so no fresh copy of
    `_signal` or `gc` can be made later; then `signal.signal` (a handler receives the current frame)
    and `gc.set_debug` (DEBUG_SAVEALL puts dead frames in `gc.garbage`) are replaced by refusals, and
    `sys.settrace` / `sys.setprofile` by functions that accept only None, so that code which restores
    "no tracer" (doctest does) keeps working; the hook refuses any tracer that reaches the real ones.
    Threads are refused too (see `_no_threads`).
    """
    import _imp
    import gc

    for name in sys.builtin_module_names:
        if not forbidden(name):
            __import__(name)
    sys.modules["_signal"].signal = _refuse
    if "signal" in sys.modules:
        sys.modules["signal"].signal = _refuse
    gc.set_debug = _refuse
    sys.settrace = sys.setprofile = _no_tracing
    _thread = sys.modules["_thread"]
    _thread.start_new_thread = _thread.start_new = _no_threads
    _imp.create_builtin = _refuse_builtin
    return gc.isenabled, gc.disable, gc.enable


def _make_reporter(nonce: str, status_fd: int):
    """`send(kind, text)` writes one signed status line; `stop(reason)` sends it and ends the process."""
    write, exit_, str_, type_, exception = os.write, os._exit, str, type, Exception
    flushes, prefix = (sys.stdout.flush, sys.stderr.flush), nonce + " "

    def send(kind, text):
        text = text.replace("\n", " ")[:2000] if type_(text) is str_ else ""
        write(status_fd, (prefix + kind + " " + text + "\n").encode())

    def stop(reason):
        send("fail", reason)
        for flush in flushes:
            try:
                flush()
            except exception:  # a broken stream must not hide the reason
                pass
        exit_(97)

    return send, stop


def _make_privileged(gc_functions: tuple):
    """`privileged(work, *args)` runs the hook's own work with the hook deaf to the events that work
    raises, and with the collector off so that no finaliser (program code) runs meanwhile."""
    gc_isenabled, gc_disable, gc_enable = gc_functions
    busy = [False]

    def privileged(work, *args):
        enabled = gc_isenabled()
        gc_disable()
        busy[0] = True
        try:
            return work(*args)
        finally:
            busy[0] = False
            if enabled:
                gc_enable()

    return privileged, busy


def _make_resolver():
    """`resolve(path)`: the physical absolute path, links resolved with C calls only (None: a link loop).

    `os.path.realpath` is Python code whose module the program can patch, so the hook has its own."""
    lstat, readlink, getcwd, os_error = os.lstat, os.readlink, os.getcwd, OSError

    def resolve(path):
        todo, done, links = (path if path.startswith("/") else getcwd() + "/" + path).split("/")[::-1], [], 0
        while todo:
            part = todo.pop()
            if part == "" or part == ".":
                continue
            if part == "..":
                done = done[:-1]
                continue
            done.append(part)
            try:
                mode = lstat("/" + "/".join(done)).st_mode
            except os_error:
                continue
            if mode & 0o170000 == 0o120000:
                links += 1
                if links > 40:
                    return None
                target = readlink("/" + "/".join(done))
                done = [] if target.startswith("/") else done[:-1]
                todo.extend(target.split("/")[::-1])
        return "/" + "/".join(done)

    return resolve


def _make_path_checks(root: str, python_dirs: tuple, stop, resolve):
    """`check_path(path, writes)` stops or refuses an access and returns the physical path;
    `check_open(args)` judges an `open` event and returns the path of a trusted .pyc it opened."""
    stat, fspath, decode, str_, bytes_, int_, type_ = os.stat, os.fspath, bytes.decode, str, bytes, int, type
    value_error, permission_error, os_error = ValueError, PermissionError, OSError
    process_files, write_flags, devices = PROCESS_FILES, WRITE_FLAGS, READABLE_DEVICES
    read_dirs = (root,) + tuple(python_dirs) + devices

    def within(real, bases):
        for base in bases:
            if real == base or real.startswith(base + "/"):
                return True
        return False

    def check_path(path, writes):
        if type_(path) is not str_ and type_(path) is not bytes_:  # C functions pass paths converted; shutil does not
            path = fspath(path)
        if type_(path) is bytes_:
            path = decode(path, "utf-8", "surrogateescape")
        elif type_(path) is not str_:
            raise value_error("the code sandbox takes only str or bytes paths")
        real = resolve(path)
        if real is None:
            raise permission_error(13, "too many symbolic links", path)
        name = real.rpartition("/")[2]
        if real == "/proc" or real.startswith("/proc/") or name in process_files:
            stop(
                f"forbidden: reading a process environment ({path})"
                if name == "environ"
                else f"forbidden: process internals under /proc ({path})"
            )
        if writes and (not within(real, (root,)) or ".." in path.split("/")):
            stop(f"forbidden: write outside the sandbox ({path})")
        if not within(real, read_dirs):
            raise permission_error(13, "the code sandbox reads only its folder and the Python installation", path)
        return real

    def check_open(args):
        path, mode, flags = args
        if type_(path) is int_:
            return None
        writes = (type_(mode) is str_ and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) or (
            type_(flags) is int_ and flags & write_flags
        )
        real = check_path(path, writes)
        try:
            kind = stat(real).st_mode & 0o170000
        except os_error:
            kind = 0
        if kind == 0o040000 and not within(real, (root,)):  # a directory fd plus dir_fd= would get past these checks
            stop(f"forbidden: opening a directory outside the sandbox ({real})")
        if (kind == 0o020000 or kind == 0o060000) and real not in devices:  # a device node made with os.mknod
            stop(f"forbidden: opening a device ({real})")
        return real if real.endswith(".pyc") and within(real, python_dirs) else None

    return check_path, check_open, within


def _make_bytecode_check(stop, privileged):
    """`check_bytecode(args, expected)`: unmarshalled bytes must be the body of the .pyc file the import
    system just opened from the Python installation; anything else could be a hand-made code object."""
    bytes_, memoryview_, type_, file_io = bytes, memoryview, type, _io.FileIO

    def read_body(path):
        with file_io(path, "r") as handle:
            return handle.readall()[16:]

    def check_bytecode(args, expected):
        data = args[0] if args else None
        if type_(data) is memoryview_ and data.readonly and type_(data.obj) is bytes_:
            data = bytes_(data)
        if expected is None or type_(data) is not bytes_ or data != privileged(read_body, expected):
            stop("forbidden: loading bytecode that did not come from the Python installation")

    return check_bytecode


def make_hook(
    *, nonce: str, status_fd: int, root: str, token: object, chain: tuple, python_dirs: tuple, gc_functions: tuple
):
    """The audit hook. A `tap.*` event counts only when its first argument is `token` (an object only
    the runner's frames hold) and the frames that raised it have the code objects in `chain`,
    innermost first: a program that gets C code to call `sys.audit` on its behalf while the runner's
    frame is on top (say `__repr__ = functools.partial(sys.audit, "tap.finished")`) has no token.
    `python_dirs`: the Python installation (read-only, trusted)."""
    getframe, str_, int_, type_, len_, value_error, my_pid = sys._getframe, str, int, type, len, ValueError, os.getpid()
    send, stop = _make_reporter(nonce, status_fd)
    privileged, busy = _make_privileged(gc_functions)
    resolve = _make_resolver()
    check_path, check_open, within = _make_path_checks(root, python_dirs, stop, resolve)
    check_bytecode = _make_bytecode_check(stop, privileged)
    stops, path_events, runner_events = (
        dict(STOP_EVENTS),
        dict(PATH_EVENTS),
        dict(RUNNER_EVENTS),
    )  # copies no module can reach
    listing, introspection, frame_attributes = LISTING_EVENTS, INTROSPECTION_EVENTS, FRAME_ATTRIBUTES
    banned, banned_prefixes = FORBIDDEN_MODULES, FORBIDDEN_PREFIXES
    pending_bytecode = [None]

    def from_runner():
        frame = getframe(3)  # 0 from_runner, 1 privileged, 2 hook, 3 the code that raised the event
        for code in chain:
            if frame is None or frame.f_code is not code:
                return False
            frame = frame.f_back
        return frame is None

    def check_import(name, filename):
        top = name.partition(".")[0] if type_(name) is str_ else ""
        if not top or top in banned or name in banned or top.startswith(banned_prefixes):
            stop(f"forbidden: importing {name}")
        if filename is not None:
            real = resolve(filename) if type_(filename) is str_ else None
            if real is None or not within(real, python_dirs):
                stop(f"forbidden: loading native code from outside the Python installation ({filename!r})")

    def hook(event, args):
        if busy[0]:
            return
        if event in introspection:
            raise value_error(f"{event} is not available in the code sandbox")
        if (event == "object.__getattr__" and args[1] in frame_attributes) or (
            event == "object.__setattr__" and args[1] == "__code__"
        ):
            raise value_error(f"{args[1]} is not available in the code sandbox")
        if event == "open":
            pending_bytecode[0] = check_open(args)
        elif event == "marshal.loads" or event == "marshal.load":
            expected, pending_bytecode[0] = pending_bytecode[0], None
            check_bytecode(args, expected)
        elif event == "import":
            check_import(args[0], args[1])
        elif event in stops:
            stop(f"forbidden: {stops[event]} ({event})")
        elif event.startswith("socket.") or event.startswith("ctypes."):
            stop(f"forbidden: {'network access' if event[0] == 's' else 'native code'} ({event})")
        elif event == "os.kill" and args[0] != my_pid:
            stop("forbidden: signalling other processes (os.kill)")
        elif event in path_events:
            for path in args[: path_events[event]]:
                if type_(path) is not int_:
                    check_path(path, True)
        elif event in listing and args[0] is not None and type_(args[0]) is not int_:
            check_path(args[0], False)
        elif event in runner_events and args and args[0] is token and privileged(from_runner):
            send(runner_events[event], args[1] if len_(args) > 1 and type_(args[1]) is str_ else "")

    return hook
