"""Executors for independent label units, behind one small interface.

    submit(fn, *args) -> handle      start a unit
    wait(handles) -> finished         block until at least one handle is done
    close()                           release workers

A handle's `result()` returns the unit's value or raises its exception. Registry keys are the
`--executor` names. Only the Ray adapter imports `ray`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from pathlib import Path
from typing import Any, Protocol


class Handle(Protocol):
    def result(self) -> Any: ...


class Executor(Protocol):
    workers: int

    def submit(self, fn: Callable, *args) -> Handle: ...

    def wait(self, handles: list[Handle]) -> list[Handle]: ...

    def close(self) -> None: ...


class _Deferred:
    """A unit to run in this process when the driver waits for it."""

    def __init__(self, fn: Callable, args: tuple):
        self._call = (fn, args)
        self._value: Any = None
        self._error: Exception | None = None

    def run(self) -> None:
        fn, args = self._call
        try:
            self._value = fn(*args)
        except Exception as exc:  # handed to the driver, which retries or records it
            self._error = exc

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


class InProcessExecutor:
    """Runs units one at a time in this process, each only when the driver waits for it, so
    every finished unit reaches the ledger before the next one starts."""

    workers = 1

    def submit(self, fn: Callable, *args) -> Handle:
        return _Deferred(fn, args)

    def wait(self, handles: list[Handle]) -> list[Handle]:
        first = handles[0]
        first.run()
        return [first]

    def close(self) -> None:
        pass


def _init_worker(threads: int) -> None:
    import torch

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(threads)


class ProcessPoolExecutorAdapter:
    """A local pool of `workers` spawned processes; the machine's cores are split among them.

    Spawned workers import the caller's main module: a script that calls the API with workers > 1
    needs the usual `if __name__ == "__main__":` guard."""

    def __init__(self, workers: int):
        import multiprocessing

        self.workers = workers
        self._make = lambda: ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
            initargs=(max(1, (os.cpu_count() or 1) // workers),),
        )
        self._pool = self._make()

    def submit(self, fn: Callable, *args) -> Future:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): its units fail and are retried on a new pool.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._make()
            return self._pool.submit(fn, *args)

    def wait(self, handles: list[Future]) -> list[Future]:
        done, _ = futures_wait(handles, return_when=FIRST_COMPLETED)
        return list(done)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _RayHandle:
    def __init__(self, ref):
        self.ref = ref

    def result(self) -> Any:
        import ray

        try:
            return ray.get(self.ref)
        except ray.exceptions.RayTaskError as exc:
            raise exc.as_instanceof_cause() from None


class RayExecutor:
    """Ray tasks: a local cluster by default (temp dir inside the run folder, no dashboard), or an
    existing cluster at `address`. Started with RAY_AUTH_MODE=disabled."""

    def __init__(self, workers: int, temp_dir: Path, address: str | None = None):
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        import ray

        self.workers = workers
        self._started_here = not ray.is_initialized()
        if self._started_here:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address:
                kwargs["address"] = address
            else:
                kwargs.update(num_cpus=workers, _temp_dir=_ray_temp_dir(temp_dir))
            ray.init(**kwargs)
        # Retries are the driver's job (it records attempts); Ray must not retry on its own.
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_call)

    def submit(self, fn: Callable, *args) -> _RayHandle:
        return _RayHandle(self._remote.remote(fn, *args))

    def wait(self, handles: list[_RayHandle]) -> list[_RayHandle]:
        import ray

        by_ref = {h.ref: h for h in handles}
        ready, _ = ray.wait(list(by_ref), num_returns=1)
        return [by_ref[r] for r in ready]

    def close(self) -> None:
        import ray

        if self._started_here:
            ray.shutdown()


def _ray_temp_dir(wanted: Path) -> str:
    """Ray's temp dir inside the run folder; when that path is too long for Ray's unix sockets
    (107 bytes with Ray's own ~60), a short folder in /tmp linked from the run folder instead."""
    import tempfile

    wanted = wanted.absolute()
    if len(str(wanted)) <= 45:
        wanted.mkdir(parents=True, exist_ok=True)
        return str(wanted)
    short = tempfile.mkdtemp(prefix="tap-ray-")
    wanted.parent.mkdir(parents=True, exist_ok=True)
    if wanted.is_symlink() or not wanted.exists():
        wanted.unlink(missing_ok=True)
        wanted.symlink_to(short, target_is_directory=True)
    return short


def _ray_call(fn: Callable, *args) -> Any:
    return fn(*args)


def _local(workers: int, run_dir: Path, ray_address: str | None) -> Executor:
    return InProcessExecutor() if workers == 1 else ProcessPoolExecutorAdapter(workers)


def _ray(workers: int, run_dir: Path, ray_address: str | None) -> Executor:
    from tap.errors import TapInputError

    try:
        import ray  # noqa: F401
    except ImportError:
        raise TapInputError("--executor ray needs Ray: pip install 'tap[ray]'") from None
    return RayExecutor(workers, run_dir / "ray", ray_address)


EXECUTORS: dict[str, Callable[[int, Path, str | None], Executor]] = {"local": _local, "ray": _ray}


def make_executor(
    name: str, workers: int = 1, *, run_dir: Path | None = None, ray_address: str | None = None
) -> Executor:
    """The executor registered under `name`: local (in-process, or a process pool), or ray."""
    from tap.errors import TapInputError

    if workers < 1:
        raise TapInputError(f"--workers must be at least 1, got {workers}")
    if name not in EXECUTORS:
        raise TapInputError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
    return EXECUTORS[name](workers, run_dir or Path("."), ray_address)
