"""One session owns a target's lifecycle: connect and lock -> state (and registry) -> close.

Every command that touches a warehouse (run, plan, test, promote, rollback, gc, models)
opens exactly one:

    with open_session(config, target, access=Access.WRITE, console=console) as session:
        run_id = session.start_run("run")      # state row + the engine announces the holder
        ... session.engine, session.state, session.registry ...
    # closed and released here, also on error or Ctrl-C

The state store is the target's own warehouse unless the target names one of its own
(`state = "warehouse/state.duckdb"` or `state = "postgresql://..."`), for warehouses
where small transactional writes are slow or impossible; engines that cannot hold
state at all (Spark: HOLDS_STATE False) get their adapter's default one. The run lock
then lives with the state store: it is what runs coordinate on.
"""

from __future__ import annotations

import importlib
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Iterator

from toolkit.config import Config, Target
from toolkit.console import Console
from toolkit.engines import connect, engine_class
from toolkit.errors import ProjectError, line_of

if TYPE_CHECKING:
    from toolkit.state import State  # imported when a session starts: `toolkit run` starts opening the target before sqlglot is imported

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class Access(Enum):
    WRITE = "write"  # run, promote, rollback, gc, models promote: holds the run lock throughout
    READ = "read"  # plan, test, models list/show: takes no run lock where the engine lets readers in


@dataclass
class Session:
    config: Config
    target: Target
    engine: object  # the warehouse (engines/base.py Engine)
    state_engine: object  # the state store: `engine` itself unless the target names one
    console: Console
    access: Access
    absent: str = ""  # a read-only command's target whose file is not there (read as an empty database): why
    state: State = field(init=False)
    _relations: dict = field(init=False, default_factory=dict, repr=False)  # schema -> engine.relations(schema), until changed

    def __post_init__(self):
        from toolkit import stateschema
        from toolkit.state import State

        # A state written by a newer toolkit is refused before anything reads it. The
        # State's own catalog read serves the check too: one catalog query, not two.
        self.state = State(self.state_engine)
        stateschema.refuse_newer(self.state_engine, self.state_engine.describe(), self.state.catalog())
        self._refuse_another_projects_state()

    def _refuse_another_projects_state(self) -> None:
        """State (published steps, intervals, model versions) is one project's: another
        project's run would unpublish every step it does not have, as deleted."""
        owner = self.state.owner()
        if owner is None or owner[0] == self.config.name:
            return
        from toolkit.errors import ProjectError, line_of

        raise ProjectError(
            f"{self.describe()} holds the toolkit state of project '{owner[0]}' (run {owner[1]}), not of '{self.config.name}': "
            f"two projects in one warehouse would unpublish each other's steps",
            self.config.shown_file, line_of(self.config.text, "name", line_of(self.config.text, "[tool.toolkit]") or 1),
            hint=f"give this project its own database (or DuckDB file); a project renamed from '{owner[0]}' keeps that name",
        )

    @cached_property
    def registry(self):
        """Model versions, trusting the types the project's config trusts (one place decides)."""
        from toolkit.registry import Registry

        return Registry(self.state_engine, self.config.trusted_types)

    def relations(self, schema: str) -> dict[str, str]:
        """engine.relations(schema), read once until catalog_changed(): a run's plan and its
        closing drop of unreferenced tables share one read of toolkit_physical (6-12 ms with
        500 tables) when nothing was built or dropped in between. Whoever builds, publishes
        or drops in this session calls catalog_changed() (execute.run does, for the run)."""
        known = self._relations.get(schema)
        if known is None:
            known = self._relations[schema] = self.engine.relations(schema)
        return known

    def catalog_changed(self) -> None:
        """Relations may have been created or dropped: the next relations() reads them again."""
        self._relations.clear()

    @property
    def separate_state(self) -> bool:
        return self.state_engine is not self.engine

    def describe(self) -> str:
        where = f"{self.target.name} ({self.engine.describe()})"
        return where + (f", state in {self.state_engine.describe()}" if self.separate_state else "")

    def start_run(self, command: str, env: str | None = None) -> int:
        """Record a run (and the environment it builds) and tell waiting processes which run holds the lock."""
        run_id = self.state.start_run(self.config.name, self.target.name, command, abandon_others=self.access is Access.WRITE, env=env)
        self._locker().announce_run(run_id)
        return run_id

    def _locker(self):
        return self.state_engine if self.separate_state else self.engine


@contextmanager
def open_session(config: Config, target_name: str | None = None, *, access: Access = Access.WRITE,
                 lock_timeout: float = 10.0, console: Console | None = None, stop_waiting=None) -> Iterator[Session]:
    console = console or Console()
    target = config.target(target_name)
    store = state_target(target)
    # A command that only reads never creates the database (a DuckDB file and its folders):
    # it reads an empty one in memory instead, as a run would find before its first write.
    absent = [] if access is Access.WRITE else [t for t in (target, store) if t is not None and not _exists(t, config)]
    if store is None:
        engine = _connect(_in_memory(target, absent), config, access, lock_timeout, console, stop_waiting)
        state_engine = engine
    else:
        # The lock is the state store's; the warehouse is opened without one where it can be.
        state_engine = _connect(_in_memory(store, absent), config, access, lock_timeout, console, stop_waiting)
        try:
            engine = _connect(_in_memory(target, absent), config, Access.READ, lock_timeout, console, stop_waiting)
        except BaseException:
            state_engine.close()
            raise
    try:
        if not config.allowed_functions:  # a project that allows file functions needs the files
            engine.restrict_to_warehouse(file_source_folders(config.root))
        session = Session(config, target, engine, state_engine, console, access, _absent_hint(absent, config) if absent else "")
        with _blaming_absence(session.absent):
            yield session
    finally:
        engine.close()
        if state_engine is not engine:
            state_engine.close()


def file_source_folders(root) -> list[str]:
    """The folders of the project's file sources: DuckDB reads them in place, through views
    that every later session reads too."""
    from toolkit import filesources
    from toolkit.project import discover_sources

    return filesources.readable_folders(discover_sources(root), root)


@contextmanager
def _blaming_absence(hint: str) -> Iterator[None]:
    """A user error while reading a stand-in for an absent file ("table app.t does not exist
    in the target") names the file's absence first: most likely the cause."""
    try:
        yield
    except ProjectError as error:
        if hint:
            error.hint = f"{hint}; {error.hint}" if error.hint else hint
        raise


def _exists(target: Target, config: Config) -> bool:
    """False where opening the target would create its database file (engines.base.Engine.may_hold_tables);
    an in-memory database is there whenever it is opened."""
    in_memory = target.settings.get("path", ":memory:") == ":memory:"
    return in_memory or engine_class(target.engine)(target, config.root).may_hold_tables()


def _in_memory(target: Target, absent: list[Target]) -> Target:
    """The target, or for one whose file is absent the same engine on an empty in-memory database."""
    if target not in absent:
        return target
    return replace(target, settings={**target.settings, "path": ":memory:"})


def _absent_hint(absent: list[Target], config: Config) -> str:
    """'the DuckDB file /p/w.duckdb of target dev, toolkit.toml line 7, does not exist (a wrong path? ...)'."""
    text = config.file.read_text(encoding="utf-8") if config.file.is_file() else ""
    said = []
    for target in absent:
        name = target.name.removesuffix(" (state)")
        line = line_of(text, f"targets.{name}]")
        where = f"{config.file.name} line {line}" if line else config.file.name
        path = (config.root / target.settings["path"]).resolve()
        kind = "state file" if target.name.endswith(" (state)") else "DuckDB file"
        said.append(f"the {kind} {path} of target {name}, {where}, does not exist (a wrong path? toolkit run would create it empty)")
    return "; ".join(said)


def _connect(target: Target, config: Config, access: Access, lock_timeout: float, console: Console, stop_waiting=None):
    exclusive = access is Access.WRITE or not engine_class(target.engine).CONCURRENT_READERS
    engine = connect(target, config.root, lock_timeout, on_wait=console.waiting, exclusive=exclusive, stop_waiting=stop_waiting)
    engine.source_dialect = config.dialect
    engine.on_warning = lambda text: _warn(console, text)
    return engine


def _warn(console: Console, text: str) -> None:
    """An engine's warning (Engine.warn), as the command's own warnings are shown."""
    console.show(f"warning: {text}", [{"event": "warning", "message": f"warning: {text}"}])


class SessionAhead:
    """open_session on a thread of its own, started before the command compiles the
    project: connecting and attaching (DuckDB ~40 ms, a PostgreSQL connection, a Spark
    session's JVM) happen while the compile runs, and the database releases the GIL
    while it works. What the command sees is unchanged: a compile error is reported
    first (the open is cancelled, even mid-wait for the lock, and whatever it opened is
    closed), and an error of the open (a busy target, a newer state) is raised when the
    session is asked for, after the compile succeeded.

        with SessionAhead(config, target, access=..., console=...) as ahead:  # closes on any way out
            compiled = compile(...)
            with ahead.session() as session:
                ...
    """

    def __init__(self, config: Config, target_name: str | None, *, access: Access = Access.WRITE,
                 lock_timeout: float = 10.0, console: Console | None = None):
        self._stop = threading.Event()
        self._manager = open_session(config, target_name, access=access, lock_timeout=lock_timeout, console=console,
                                     stop_waiting=self._stop)
        self._session: Session | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._open, name="toolkit-open", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            self._session = self._manager.__enter__()
        except BaseException as error:  # raised where the session is asked for
            self._error = error

    def wait(self) -> Session:
        """The open session (still open afterwards), or the open's error."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._session

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The session, like open_session's: closed when the block ends."""
        try:
            session = self.wait()
            with _blaming_absence(session.absent):
                yield session
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()  # still waiting for the lock: stop now
        self._thread.join()
        if self._session is not None:
            self._session = None
            self._manager.__exit__(None, None, None)  # closes the engines

    def __enter__(self) -> "SessionAhead":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def state_target(target: Target) -> Target | None:
    """The target's own state store as a target of its own (None: state lives in the warehouse)."""
    store = target.settings.get("state")
    if not store:
        cls = engine_class(target.engine)
        if cls.HOLDS_STATE:
            return None
        store = importlib.import_module(cls.__module__).default_state(target.settings)
    # in the project's zone, as a state kept in its warehouse is, and naming the warehouse's
    # engine: state migration 8 narrows the spans Spark recorded in UTC clock values
    where = {"url": store} if store.startswith(POSTGRES_SCHEMES) else {"path": store}
    return Target(name=f"{target.name} (state)", engine="postgres" if "url" in where else "duckdb",
                  settings={**where, "serves": target.engine}, time_zone=target.time_zone)
