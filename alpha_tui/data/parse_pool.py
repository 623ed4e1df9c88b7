"""Structure parsing in worker processes: faster on several cores, and crash-proof.

Parsing a CIF and reducing it to the primitive cell costs ~16 ms per crystal in
jarvis and spglib (20 minutes on 76,000 crystals), and spglib is C: a structure the
validation in ``structures.py`` does not foresee could still kill the process with a
signal. In a worker that costs one worker, not the session: the item being parsed
when a worker died is run again alone in a fresh worker, and if that one dies too
the structure becomes a skipped row ("parser process died (signal 11) on X.cif").

Start method: ``forkserver``. ``fork`` would be cheapest, but the pipeline reads the
data after torch has started its thread pool (3 threads in a CLI run, more with the
TUI's event loop), and forking a threaded process can inherit locks held by other
threads. ``spawn`` and ``forkserver`` start clean; ``spawn`` re-imports jarvis
(2-4 s, it pulls in sklearn) in every worker, the fork server imports it once per
session (``_PRELOAD``) and forks each worker from that warm, single-threaded process.

Under a running Textual app ``sys.stderr`` is the app's print capture, whose
``fileno()`` is -1. multiprocessing's resource tracker (started with the first worker)
passes ``sys.stderr.fileno()`` to the new process, and -1 makes that start fail
("bad value(s) in fds_to_keep"), so the explorer could not use the pool.
``_tracker_running`` then starts the tracker on ``/dev/null`` first: the terminal is
the TUI's, and a tracker's warning there would only tear the screen.

Results come back in input order, one message per structure (so the item in flight
at a crash is known), and the input is consumed lazily (``--limit`` stops early).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alpha_tui.data.structures import StructureError, read_structure

if TYPE_CHECKING:
    from jarvis.core.atoms import Atoms

CHUNK = 8  # structures per message to a worker: ~0.1 s of work against ~0.1 ms overhead
MIN_POOL_ITEMS = 48  # fewer structures to parse than this: in-process (start-up > savings)
START_METHOD = "forkserver"
_PRELOAD = [
    "alpha_tui.data.parse_pool",
    "jarvis.core.atoms",
    "jarvis.core.specie",
    "jarvis.io.vasp.inputs",
    "jarvis.analysis.structure.spacegroup",
    "scipy.spatial",
]
_JOIN_SECONDS = 2.0
_HELLO = "ready"
_TRACKER_LOCK = threading.Lock()

Parser = Callable[[Path], "Atoms"]


@dataclass(frozen=True)
class Parsed:
    """One structure's outcome: ``atoms``, or ``None`` and the one-line ``reason``."""

    atoms: Atoms | None
    reason: str = ""


NOT_NEEDED = Parsed(None, "")  # the answer to a ``None`` input (a row needing no parse)


def usable_cores() -> int:
    """Cores this process may run on (a cgroup/taskset limit counts, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_one(parse: Parser, path: Path) -> Parsed:
    """The in-process outcome: what ``read_dataset`` always did, as a value."""
    try:
        return Parsed(parse(path))
    except StructureError as exc:
        return Parsed(None, exc.reason)


def iter_parsed(
    paths: Iterable[Path | None],
    workers: int = 1,
    parse: Parser | None = None,
    min_pool_items: int = MIN_POOL_ITEMS,
    notes: list[str] | None = None,
) -> Iterator[Parsed]:
    """Each path's ``Parsed`` in input order (``NOT_NEEDED`` for ``None``), lazily.

    ``workers`` 1 parses in this process. Otherwise a pool starts only once
    ``min_pool_items`` real paths are waiting, so a small or fully cached dataset
    never pays for it. Closing the iterator early stops the workers. If workers cannot
    start at all the rest is parsed here and ``notes`` gets a line saying so. (Workers
    import the main module as multiprocessing does: a script calling this needs the
    ``if __name__ == "__main__":`` guard, or its workers fail to start.)
    """
    parse = parse or read_structure
    source = iter(paths)
    if workers <= 1:
        for path in source:
            yield NOT_NEEDED if path is None else parse_one(parse, path)
        return
    head: list[Path | None] = []
    real = 0
    for path in source:
        head.append(path)
        real += path is not None
        if real >= min_pool_items:
            break
    if real < min_pool_items:
        for path in head:
            yield NOT_NEEDED if path is None else parse_one(parse, path)
        return
    pool = _Pool(workers, parse, notes)
    try:
        yield from pool.run(_chain(head, source))
    finally:
        pool.close()


def _chain(head: list[Path | None], rest: Iterator[Path | None]) -> Iterator[Path | None]:
    yield from head
    yield from rest


def death_reason(exitcode: int | None, path: Path) -> str:
    """What a user reads for a structure whose parser process died."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown"
        how = f"signal {-exitcode}, {name}"
        if exitcode == -signal.SIGKILL:
            how += ", often the kernel's out-of-memory killer"
        return f"parser process died ({how}) on {path.name}"
    return f"parser process exited with code {exitcode} on {path.name}"


@dataclass
class _Worker:
    process: Any
    conn: Connection
    pending: deque[int] = field(default_factory=deque)  # indices sent, in order
    alone: bool = False  # running one suspect structure by itself
    ready: bool = False  # said hello: a death after this is a structure's fault


class _PoolBroken(Exception):
    """A worker died before it could parse anything: no structure is to blame."""


class _Pool:
    """Workers fed chunks of (index, path); each structure answered in its own message."""

    def __init__(self, workers: int, parse: Parser, notes: list[str] | None = None) -> None:
        self._notes = notes
        self._context = multiprocessing.get_context(START_METHOD)
        if START_METHOD == "forkserver":
            self._context.set_forkserver_preload(_PRELOAD)
        self._size = workers
        self._parse = parse
        self._workers: list[_Worker] = []
        self._paths: dict[int, Path] = {}
        self._done: dict[int, Parsed] = {}
        self._queue: deque[list[int]] = deque()  # chunks not yet sent
        self._suspects: deque[int] = deque()  # in flight when a worker died: run alone
        self._retried: set[int] = set()

    def run(self, paths: Iterator[Path | None]) -> Iterator[Parsed]:
        taken = 0
        next_out = 0
        exhausted = False
        while True:
            while not exhausted and len(self._queue) < 2 * self._size:
                chunk = []
                for path in paths:
                    if path is None:
                        self._done[taken] = NOT_NEEDED
                    else:
                        self._paths[taken] = path
                        chunk.append(taken)
                    taken += 1
                    if len(chunk) >= CHUNK:
                        break
                else:
                    exhausted = True
                if chunk:
                    self._queue.append(chunk)
            while next_out in self._done:
                yield self._done.pop(next_out)
                next_out += 1
            if exhausted and next_out == taken:
                return
            try:
                self._dispatch()
                self._receive()
            except _PoolBroken as exc:
                self.close()
                if self._notes is not None:
                    self._notes.append(
                        f"parser processes could not start ({exc}); the remaining "
                        "structures were parsed in the main process, without crash isolation"
                    )
                yield from self._in_process(next_out, taken, paths)
                return

    def _in_process(
        self, start: int, taken: int, paths: Iterator[Path | None]
    ) -> Iterator[Parsed]:
        """The rest in this process, when workers cannot start (the session must go on)."""
        for index in range(start, taken):
            if index in self._done:
                yield self._done.pop(index)
            else:
                yield parse_one(self._parse, self._paths.pop(index))
        for path in paths:
            yield NOT_NEEDED if path is None else parse_one(self._parse, path)

    def _dispatch(self) -> None:
        """Suspects first, each alone in a fresh worker; then chunks, two per worker."""
        while self._suspects:
            index = self._suspects.popleft()
            worker = self._start()
            worker.alone = True
            self._send(worker, [index])
        while self._queue:
            regular = [w for w in self._workers if not w.alone]
            if len(regular) < self._size:
                regular.append(self._start())
            idle = [w for w in regular if len(w.pending) < 2 * CHUNK]
            if not idle:
                return
            self._send(min(idle, key=lambda w: len(w.pending)), self._queue.popleft())

    def _send(self, worker: _Worker, chunk: list[int]) -> None:
        worker.pending.extend(chunk)
        with contextlib.suppress(OSError):  # it died: its sentinel tells, with the cause
            worker.conn.send([(i, self._paths[i]) for i in chunk])

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(theirs, self._parse), daemon=True
        )
        try:
            _tracker_running()
            process.start()
        except (OSError, ValueError) as exc:  # no process could be made: none is to blame
            ours.close()
            theirs.close()
            raise _PoolBroken(f"{type(exc).__name__}: {exc}") from exc
        theirs.close()
        worker = _Worker(process, ours)
        self._workers.append(worker)
        return worker

    def _receive(self) -> None:
        busy = [w for w in self._workers if w.pending]
        by_handle: dict[Any, _Worker] = {}
        for w in busy:
            by_handle[w.conn] = w
            by_handle[w.process.sentinel] = w
        for handle in wait(list(by_handle)):
            worker = by_handle[handle]
            if worker not in self._workers:
                continue  # its death was handled through the other handle
            if handle is worker.conn and self._take(worker):
                continue
            self._drain(worker)
            if worker.pending:
                self._died(worker)

    def _take(self, worker: _Worker) -> bool:
        """One answer from ``worker``; False when its pipe closed (it is dying)."""
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            return False
        if message == _HELLO:
            worker.ready = True
            return True
        index, atoms, reason = message
        worker.ready = True
        self._record(worker, index, Parsed(atoms, reason))
        if worker.alone and not worker.pending:
            self._retire(worker)
        return True

    def _record(self, worker: _Worker, index: int, parsed: Parsed) -> None:
        if worker.pending and worker.pending[0] == index:
            worker.pending.popleft()
        self._done[index] = parsed
        self._paths.pop(index, None)

    def _drain(self, worker: _Worker) -> None:
        """Answers a dead worker sent before it died are still in the pipe."""
        with contextlib.suppress(EOFError, OSError):
            while worker.conn.poll():
                message = worker.conn.recv()
                worker.ready = True
                if message == _HELLO:
                    continue
                index, atoms, reason = message
                self._record(worker, index, Parsed(atoms, reason))

    def _died(self, worker: _Worker) -> None:
        worker.process.join(_JOIN_SECONDS)
        if not worker.ready:
            code = worker.process.exitcode
            raise _PoolBroken(f"signal {-code}" if code and code < 0 else f"exit code {code}")
        culprit, rest = worker.pending[0], list(worker.pending)[1:]
        if worker.alone or culprit in self._retried:
            self._done[culprit] = Parsed(
                None, death_reason(worker.process.exitcode, self._paths[culprit])
            )
            self._paths.pop(culprit, None)
        else:
            self._retried.add(culprit)
            self._suspects.append(culprit)
        if rest:
            self._queue.appendleft(rest)
        worker.pending.clear()
        self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        with contextlib.suppress(OSError):
            worker.conn.send(None)
        worker.conn.close()
        worker.process.join(_JOIN_SECONDS)
        if worker.process.exitcode is None:
            worker.process.kill()
            worker.process.join(_JOIN_SECONDS)

    def close(self) -> None:
        """Stop every worker: politely at the end, by SIGKILL when cut short."""
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self._workers:
            if worker.pending:
                worker.process.kill()
            worker.process.join(_JOIN_SECONDS)
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join(_JOIN_SECONDS)
            worker.conn.close()
        self._workers.clear()


def _tracker_running() -> None:
    """Start multiprocessing's resource tracker with a usable stderr descriptor.

    Swapping ``sys.stderr`` is process-wide; the lock keeps two pools from racing, and
    the swap lasts only the tracker's start (a print elsewhere in that instant goes to
    the same place the tracker's would).
    """
    from multiprocessing import resource_tracker

    if _has_descriptor(sys.stderr):
        resource_tracker.ensure_running()
        return
    with _TRACKER_LOCK, open(os.devnull, "w") as null:
        saved, sys.stderr = sys.stderr, null
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved


def _has_descriptor(stream: Any) -> bool:
    try:
        return stream is not None and stream.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _worker_main(conn: Connection, parse: Parser) -> None:
    """Parse chunks until told to stop; native output is kept off the user's terminal."""
    _isolate()
    with contextlib.suppress(OSError):
        conn.send(_HELLO)
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):  # the session is gone
            return
        if chunk is None:
            return
        for index, path in chunk:
            try:
                parsed = parse_one(parse, path)
            except MemoryError:
                parsed = Parsed(None, f"out of memory while parsing {path.name}")
            except Exception as exc:  # an unexpected parser bug stays one structure's problem
                parsed = Parsed(None, f"parser failed on {path.name}: {type(exc).__name__}")
            try:
                conn.send((index, parsed.atoms, parsed.reason))
            except (EOFError, OSError):
                return
            except Exception as exc:  # the parsed object would not pickle
                conn.send((index, None, f"parser result unusable: {type(exc).__name__}"))


def _isolate() -> None:
    """Ctrl-C is the session's to handle; C libraries' prints must not reach the TUI;
    under memory pressure the kernel should kill a worker rather than the session."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("1000")
