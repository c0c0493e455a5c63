"""Group commit: one writer thread runs queued jobs, those queued together in one write
transaction with one commit.

Each job runs inside its own SAVEPOINT. A refusal (Refused) rolls back that job alone
and lets it record why, inside the same transaction. An unexpected error fails only its
own job: the transaction is rolled back and the other jobs run again, once, in a new one.
If the commit itself fails (disk full), every job of the batch fails. Nobody is answered
before the commit that holds their job. Used by the dispatcher (server/desk/dispatch.py); no
desk rules here.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import Refused
from protocol.events import Event
from server.storage.events import EventStore

log = logging.getLogger(__name__)
BATCH_MAX = 64  # jobs per write transaction at most


@dataclass
class Job:
    """One unit of work for the writer.

    `run(conn)` returns (answer, events stored) or raises Refused to refuse;
    `refused(conn, error)` records a refusal inside the transaction.
    """

    label: str
    run: Callable[[sqlite3.Connection], tuple[Any, list[Event]]]
    refused: Callable[[sqlite3.Connection, Refused], None]
    future: Future[Any] = field(default_factory=Future)


Done = list[tuple[Job, Any, list[Event]]]  # (job, answer or Refused, events stored)


class _Abandon(Exception):
    """Roll back a batch's transaction because one job failed unexpectedly."""


class GroupCommit:
    def __init__(self, store: EventStore, after_commit: Callable[[Done], None], name: str, batch_max: int = BATCH_MAX):
        self.store = store
        self.after_commit = after_commit  # runs on the writer after each commit, before answering
        self.name = name
        self.batch_max = batch_max
        self.batches = 0  # write transactions the writer committed (or tried to)
        self._jobs: deque[Job] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        with self._ready:
            self._start()

    def stop(self) -> None:
        """Finish the jobs already queued, then stop; later jobs are refused."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)

    def submit(self, job: Job) -> Future[Any]:
        with self._ready:
            if self._stopping:
                raise Refused("server_stopping", "the server is stopping; try again in a moment")
            if threading.current_thread() is self._thread:
                raise RuntimeError("a job cannot wait for another one on the writer thread")
            self._start()
            self._jobs.append(job)
            self._ready.notify()
        return job.future

    def _start(self) -> None:
        """Start the writer once (the caller holds `_ready`)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: bool(self._jobs) or self._stopping)
                if not self._jobs:
                    return  # stopping, and nothing left to do
                batch = [self._jobs.popleft() for _ in range(min(self.batch_max, len(self._jobs)))]
            try:
                self._run_batch(batch)
            except BaseException as exc:  # noqa: BLE001 - the writer must outlive any one batch
                log.exception("%s: a batch failed", self.name)
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _run_batch(self, batch: list[Job]) -> None:
        while batch:
            self.batches += 1
            done: Done = []
            broken: list[tuple[Job, Exception]] = []
            try:
                with self.store.writing() as conn:
                    for job in batch:
                        conn.execute("SAVEPOINT job")
                        try:
                            answer, events = job.run(conn)
                        except Refused as exc:
                            conn.execute("ROLLBACK TO job")
                            conn.execute("RELEASE job")
                            job.refused(conn, exc)
                            done.append((job, exc, []))
                            continue
                        except Exception as exc:  # noqa: BLE001 - see the module docstring
                            broken.append((job, exc))
                            raise _Abandon() from exc
                        conn.execute("RELEASE job")
                        done.append((job, answer, events))
            except _Abandon:
                job, error = broken[0]
                log.error("%s: %s failed: %r", self.name, job.label, error)
                job.future.set_exception(error)
                batch = [other for other in batch if other is not job]
                continue
            self.after_commit(done)
            for job, answer, _events in done:
                if isinstance(answer, Refused):
                    job.future.set_exception(answer)
                else:
                    job.future.set_result(answer)
            return
