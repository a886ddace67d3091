"""A small pool of read-only connections to the warehouse (no extra dependency).

Each connection logs in as the API's role (api/role.sql): read-only transactions, a statement
timeout, a work_mem and a connection limit enforced by PostgreSQL itself, whatever the API does.
A connection that broke or was left in a transaction is closed instead of being reused.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import pq

from territoire.api.problems import ProblemError

APPLICATION_NAME = "territoire-api"


class Pool:
    def __init__(self, url: str, size: int = 8, *, statement_timeout_ms: int | None = None, wait_seconds: float = 10):
        self.url = url
        self.size = size
        self.statement_timeout_ms = statement_timeout_ms
        self.wait_seconds = wait_seconds
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _open(self) -> psycopg.Connection:
        options = f"-c statement_timeout={self.statement_timeout_ms}" if self.statement_timeout_ms else ""
        return psycopg.connect(self.url, autocommit=True, application_name=APPLICATION_NAME, options=options)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise ProblemError(503, "surcharge", ("Service surchargé", "Service overloaded"),
                               ("Toutes les connexions à l'entrepôt sont occupées ; réessayez dans un instant.",
                                "Every warehouse connection is busy; try again in a moment."),
                               headers={"Retry-After": "2"})
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._open()
            yield conn
        finally:
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def _give_back(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.broken or conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.close()
            return
        self._idle.put(conn)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
