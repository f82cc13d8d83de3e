"""Read replicas: which server a read-only unit of work runs on.

``store.session(readonly=True)`` asks `Replicas.pick` for a replica, round-robin. Each
candidate answers one status query on the connection the session will then use (it
goes back to that replica's idle connections and is taken again at once):

- down (no connection, or the query fails twice, once on a fresh connection): skipped,
  and not tried again for `RETRY_DOWN_S`, so that a dead replica costs one connect
  attempt per few seconds instead of one per session;
- behind by more than ``replica_max_lag_s``: skipped. The lag is zero when the replica
  has replayed everything it received, else the age of the last transaction it
  replayed (``pg_last_xact_replay_timestamp()``); an idle primary therefore does not
  make a caught-up replica look late;
- ``after=token`` (a `StoreSession.commit_token`): used once it has replayed that WAL
  position. Candidates are polled until ``replica_wait_s`` has passed, then the
  primary serves the session.

With no candidate left the primary serves the session: a read never fails because the
replicas do. A replica that dies in the middle of a session fails that session like a
primary would (`DatabaseError`); the next one skips it.

Rejected: the replay lag as ``now() - pg_last_xact_replay_timestamp()`` alone (an idle
primary makes every replica look hours behind); ``pg_stat_replication`` on the primary
(one more round trip to the server the replicas are meant to relieve); waiting with
``WAIT FOR LSN`` (not in PostgreSQL 18).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from skillstore.db.unit import Connections
from skillstore.errors import ValidationError

RETRY_DOWN_S = 5.0
"""A replica found down is skipped for this long before it is tried again."""
CONNECT_TIMEOUT_S = 2.0
"""Seconds to connect to a replica before it counts as down."""
POLL_S = 0.005

STATUS = """SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,
CASE WHEN NOT pg_is_in_recovery()
       OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
     ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9)::float8
END"""


def parse_lsn(token: str) -> int:
    """A WAL position (``"16/B374D848"``) as a number; `ValidationError` if it is not one."""
    high, sep, low = token.partition("/")
    try:
        if not sep:
            raise ValueError(token)
        return (int(high, 16) << 32) + int(low, 16)
    except ValueError:
        raise ValidationError(
            "after= takes a commit token (StoreSession.commit_token), e.g. '0/16B3748'"
        ) from None


@dataclass
class Replica:
    """One replica: its engine, its idle connections, and when it was last found down."""

    engine: AsyncEngine
    connections: Connections
    down_until: float = 0.0
    name: str = field(default="")


class Replicas:
    """The replicas of one store, tried round-robin; see the module docstring."""

    def __init__(self, replicas: list[Replica], *, max_lag_s: float, wait_s: float) -> None:
        self.replicas = replicas
        self.max_lag_s = max_lag_s
        self.wait_s = wait_s
        self.retry_down_s = RETRY_DOWN_S
        self._turn = itertools.count()

    def __bool__(self) -> bool:
        return bool(self.replicas)

    async def pick(self, after: str | None) -> Connections | None:
        """The connections of a replica fit to serve a read-only session, or None."""
        target = None if after is None else parse_lsn(after)
        if not self.replicas:
            return None
        start = next(self._turn)
        order = [self.replicas[(start + i) % len(self.replicas)] for i in range(len(self))]
        deadline = time.monotonic() + self.wait_s
        while True:
            behind = False
            for replica in order:
                verdict = await self._check(replica, target)
                if verdict == "ok":
                    return replica.connections
                behind = behind or verdict == "behind"
            if not behind or time.monotonic() >= deadline:
                return None
            await asyncio.sleep(POLL_S)

    def __len__(self) -> int:
        return len(self.replicas)

    async def _check(self, replica: Replica, target: int | None) -> str:
        """``"ok"``, ``"down"``, ``"late"`` (lag above the limit) or ``"behind"`` (has
        not replayed ``target`` yet)."""
        if replica.down_until > time.monotonic():
            return "down"
        status = await self._status(replica)
        if status is None:
            replica.down_until = time.monotonic() + self.retry_down_s
            return "down"
        in_recovery, replayed, lag = status
        if lag > self.max_lag_s:
            return "late"
        if target is None or not in_recovery:
            return "ok"
        return "ok" if replayed is not None and parse_lsn(replayed) >= target else "behind"

    async def _status(self, replica: Replica) -> tuple[Any, ...] | None:
        for _attempt in range(2):
            try:
                conn = await replica.connections.take()
            except Exception:  # refused, timed out, bad credentials: down all the same
                return None
            try:
                assert conn.sync_connection is not None
                raw = conn.sync_connection.connection.driver_connection
                assert raw is not None
                row = await raw.fetchrow(STATUS)
            except Exception:  # a connection that died while it waited: try a fresh one
                try:
                    await conn.invalidate()
                finally:
                    await conn.close()
                continue
            await replica.connections.give(conn)
            return tuple(row)
        return None

    async def close(self) -> None:
        """Give back every replica's connections and close their pools."""
        for replica in self.replicas:
            await replica.connections.close()
            await replica.engine.dispose()
