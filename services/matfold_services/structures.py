"""Parsing structures sent by clients, in worker processes bounded in memory and time.

A structure in a request is text (CIF, POSCAR, extxyz, JSON) or a pymatgen dict:
small on the wire, but a parser can be made to spend gigabytes or minutes on it.
The service therefore never parses in its own process: :class:`StructureWorkers`
keeps a small pool of worker processes (pebble's ``ProcessPool``) that each cap
their address space (``RLIMIT_AS``) and are killed and replaced when a parse runs
past its time limit. Only :func:`~matfold_kernel.parse_structure` (text, never a
path) and :func:`~matfold_kernel.structure_from_dict` (allow-listed, nothing
imported) run there. The pool starts on first use and stops with the process
(``atexit``) or when :func:`shutdown` is called.

Settings are traitlets read from ``MATFOLD_STRUCTURE_*`` environment variables.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
from concurrent.futures import TimeoutError as FutureTimeout

from traitlets import Float, Integer, default
from traitlets.config import Configurable

from .problems import ServiceError

__all__ = [
    "StructureWorkers",
    "StructureRejected",
    "check_size",
    "parse_request_structure",
    "structure_workers",
    "shutdown",
    "MAX_STRUCTURE_BYTES",
]

#: Largest structure accepted in a request, in bytes of UTF-8 (text) or of JSON (dict).
MAX_STRUCTURE_BYTES = 2 * 1024 * 1024


class StructureRejected(ServiceError):
    """A structure the service will not store: ``status`` (HTTP), a one-line ``detail`` and,
    when the service is busy, ``retry_after`` (seconds)."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None):
        super().__init__(status, detail, retry_after=retry_after)


def _env_number(name: str, fallback, kind=float):
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return fallback
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def _limit_worker(memory_bytes: int) -> None:
    """Worker initializer: one BLAS thread, libraries loaded, then cap the address space."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import resource

    import pymatgen.core  # noqa: F401  loaded before the cap so that imports are not what fails
    import pymatgen.io.ase  # noqa: F401
    import pymatgen.io.cif  # noqa: F401
    import scipy.spatial  # noqa: F401
    from ase.io import extxyz  # noqa: F401
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: F401

    import matfold_kernel.crystal  # noqa: F401

    size = 0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    size = int(line.split()[1]) * 1024
    except OSError:  # not Linux: cap at the budget alone
        pass
    limit = size + memory_bytes
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):  # macOS does not enforce RLIMIT_AS; the time limit still holds
        logging.getLogger("matfold.services").warning("cannot cap parser memory (RLIMIT_AS) here")


def parse_request_structure(structure, format: str | None = None) -> dict:
    """Parse one request's structure (runs in a worker process).

    Returns
    -------
    dict
        ``{"structure": plain dict, "info": StructureInfo.to_dict()}``, or
        ``{"error": message}`` for input matfold refuses.
    """
    from matfold_kernel import MatfoldInputError, parse_structure, structure_from_dict, structure_info
    from matfold_kernel.crystal import structure_to_dict

    try:
        if isinstance(structure, dict):
            if format not in (None, "json"):
                raise MatfoldInputError(f"format is {format!r} but the structure is a JSON object; "
                                        "leave format out or send the file's text", "structure")
            parsed = structure_from_dict(structure, name="structure")
        else:
            parsed = parse_structure(structure, format, name="structure text", max_bytes=MAX_STRUCTURE_BYTES)
        info = structure_info(parsed).to_dict()
        return {"structure": structure_to_dict(parsed), "info": info}
    except MatfoldInputError as exc:
        return {"error": str(exc)}
    except (MemoryError, RecursionError, OverflowError) as exc:
        return {"error": f"structure: {type(exc).__name__} while parsing; the input is far larger than "
                         "a crystal needs"}
    except Exception as exc:  # noqa: BLE001 - a parser bug must not become a 500 for the sender
        logging.getLogger("matfold.services").exception("unexpected error parsing a structure")
        return {"error": f"structure: the parser failed unexpectedly ({type(exc).__name__}); this is a "
                         "matfold bug, please report it with the structure", "bug": True}


class StructureWorkers(Configurable):
    """A pool of parser processes with a memory cap and a time limit per parse."""

    workers = Integer(help="Parser processes. Env: MATFOLD_STRUCTURE_WORKERS.").tag(config=True)

    @default("workers")
    def _workers_default(self):
        return max(1, _env_number("MATFOLD_STRUCTURE_WORKERS", 2, int))

    timeout = Float(help="Wall-time limit of one parse, in seconds; past it the worker is killed and "
                         "the request gets 422. Env: MATFOLD_STRUCTURE_TIMEOUT.").tag(config=True)

    @default("timeout")
    def _timeout_default(self):
        return _env_number("MATFOLD_STRUCTURE_TIMEOUT", 10.0)

    memory = Integer(help="Address space a worker may add to what its libraries take, in bytes "
                          "(RLIMIT_AS); past it the parse fails with 422. Env: MATFOLD_STRUCTURE_MEMORY.",
                     ).tag(config=True)

    @default("memory")
    def _memory_default(self):
        return _env_number("MATFOLD_STRUCTURE_MEMORY", 1 << 30, int)

    max_tasks = Integer(help="Parses per worker before it is replaced (0: never). "
                             "Env: MATFOLD_STRUCTURE_MAX_TASKS.").tag(config=True)

    @default("max_tasks")
    def _max_tasks_default(self):
        return _env_number("MATFOLD_STRUCTURE_MAX_TASKS", 200, int)

    max_waiting = Integer(help="Parses allowed to wait for a worker; more get 503 with Retry-After "
                               "instead of queueing. Env: MATFOLD_STRUCTURE_MAX_WAITING.").tag(config=True)

    @default("max_waiting")
    def _max_waiting_default(self):
        return _env_number("MATFOLD_STRUCTURE_MAX_WAITING", 32, int)

    per_user = Integer(help="Parses of one caller that run at once; the caller's others wait their turn, "
                            "so that one caller cannot hold every worker. Env: MATFOLD_STRUCTURE_PER_USER.",
                       ).tag(config=True)

    @default("per_user")
    def _per_user_default(self):
        return max(1, _env_number("MATFOLD_STRUCTURE_PER_USER", 1, int))

    max_waiting_per_user = Integer(help="Parses one caller may have waiting; more get 429. "
                                        "Env: MATFOLD_STRUCTURE_MAX_WAITING_PER_USER.").tag(config=True)

    @default("max_waiting_per_user")
    def _max_waiting_per_user_default(self):
        return _env_number("MATFOLD_STRUCTURE_MAX_WAITING_PER_USER", 8, int)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pool = None
        self._lock = threading.Lock()
        self._pending = 0
        self._callers: dict = {}  # caller -> [asyncio.Semaphore, parses waiting or running]

    def _get_pool(self):
        with self._lock:
            if self._pool is None or not self._pool.active:
                import multiprocessing

                from pebble import ProcessPool

                # forkserver: workers come from a clean, single-threaded server process,
                # never from a fork of the threaded service; the server preloads the parsers.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["matfold_services.structures"])
                self._pool = ProcessPool(max_workers=self.workers, max_tasks=self.max_tasks,
                                         initializer=_limit_worker, initargs=(self.memory,), context=context)
            return self._pool

    def _submit(self, structure, format):
        with self._lock:
            if self._pending >= self.max_waiting:
                raise StructureRejected(503, "the service is busy parsing other structures; retry in a few "
                                             "seconds", retry_after=max(1, int(self.timeout)))
            self._pending += 1
        try:
            return self._get_pool().schedule(parse_request_structure, args=(structure, format),
                                             timeout=self.timeout)
        except BaseException:
            self._done()
            raise

    def _done(self):
        with self._lock:
            self._pending -= 1

    def _outcome(self, future) -> dict:
        from pebble import ProcessExpired

        try:
            result = future.result()
        except FutureTimeout:
            raise StructureRejected(422, f"structure: parsing took longer than {self.timeout:g} s and was "
                                         "stopped; send a smaller or simpler structure") from None
        except ProcessExpired as exc:
            raise StructureRejected(422, "structure: the parser ran out of memory or crashed on this input "
                                         f"(exit code {exc.exitcode}); send a smaller structure") from None
        if "error" in result:
            raise StructureRejected(422, result["error"])
        return result

    def parse(self, structure, format: str | None = None) -> dict:
        """Parse in a worker, blocking the calling thread; see :meth:`parse_async`."""
        future = self._submit(structure, format)
        try:
            future.exception()  # wait
        finally:
            self._done()
        return self._outcome(future)

    async def parse_async(self, structure, format: str | None = None, *, caller=None) -> dict:
        """Parse `structure` (text or pymatgen dict) in a worker without blocking the event loop.

        With a `caller` (any hashable, e.g. the user's id), at most :attr:`per_user` of
        that caller's parses run at once and :attr:`max_waiting_per_user` may wait.

        Returns
        -------
        dict
            ``{"structure": plain pymatgen dict, "info": StructureInfo fields}``.

        Raises
        ------
        StructureRejected
            422 for input matfold refuses (message from the parser), a parse past
            :attr:`timeout` or past :attr:`memory`; 429 when this caller has too many
            waiting; 503 when too many parses wait in all.
        """
        if caller is None:
            return await self._parse_async(structure, format)
        slot = self._callers.setdefault(caller, [asyncio.Semaphore(self.per_user), 0])
        if slot[1] >= self.per_user + self.max_waiting_per_user:
            raise StructureRejected(429, f"you have {slot[1]} structures being parsed; wait for them before "
                                         "sending more", retry_after=max(1, int(self.timeout)))
        slot[1] += 1
        try:
            async with slot[0]:
                return await self._parse_async(structure, format)
        finally:
            slot[1] -= 1
            if slot[1] == 0 and self._callers.get(caller) is slot:
                del self._callers[caller]

    async def _parse_async(self, structure, format):
        future = self._submit(structure, format)
        waiting = asyncio.wrap_future(future)
        try:
            await asyncio.wait([waiting])
        finally:
            self._done()
        if waiting.done() and not waiting.cancelled():
            waiting.exception()  # mark it seen: _outcome turns it into the answer
        return self._outcome(future)

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop the workers (idempotent); the pool restarts on the next parse."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=wait)


def check_size(structure) -> None:
    """Refuse a request structure larger than :data:`MAX_STRUCTURE_BYTES`.

    Raises
    ------
    StructureRejected
        413 past the size, 422 for a dict nested too deeply to measure.
    """
    if isinstance(structure, str):
        size = len(structure) if len(structure) * 4 <= MAX_STRUCTURE_BYTES else \
            len(structure.encode("utf-8", "surrogatepass"))
    else:
        # NaN/Infinity are measured here and refused by the decoder, which names the field
        # (a validation error would echo the input, which JSON cannot encode)
        try:
            size = len(json.dumps(structure, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        except (ValueError, TypeError, RecursionError):
            raise StructureRejected(422, "structure is nested too deeply to be a structure") from None
    if size > MAX_STRUCTURE_BYTES:
        raise StructureRejected(413, f"structure is {size / 2**20:.1f} MiB, over the "
                                     f"{MAX_STRUCTURE_BYTES // 2**20} MiB limit; send one structure at a time")


_workers: StructureWorkers | None = None


def structure_workers() -> StructureWorkers:
    """The process-wide pool (created on first call, started on first parse)."""
    global _workers
    if _workers is None:
        _workers = StructureWorkers()
        atexit.register(shutdown)
    return _workers


def shutdown() -> None:
    """Stop the process-wide pool's workers (for the app's shutdown; safe to call twice)."""
    if _workers is not None:
        _workers.shutdown()
