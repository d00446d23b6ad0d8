"""The one table of rule codes: code, message template, explanation, bad and good example.

Codes and their meaning are a contract (other tools and configs depend on them); messages may
improve, meanings may not change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str  # one line, for tables
    message: str  # str.format template; the code is prefixed when rendered
    why: str
    bad: str
    good: str
    default_enabled: bool = True


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).strip("\n")


RULES: dict[str, Rule] = {}


def _rule(**kwargs: object) -> None:
    for key in ("why", "bad", "good"):
        kwargs[key] = _dedent(str(kwargs[key]))
    rule = Rule(**kwargs)  # type: ignore[arg-type]
    RULES[rule.code] = rule


_rule(
    code="DBS001",
    name="request-scoped-session-on-endpoint",
    summary="session dependency (Depends(get_db)) declared on an endpoint",
    message="request-scoped session dependency {dependency} {where}; {advice} instead",
    why="""
        A `Depends(get_db)` session lives for the whole request: through slow awaits, through
        response serialization, until the response has been sent. It holds a pooled connection
        (often an open transaction) all that time. Under load this exhausts the pool and leaves
        connections idle in transaction. Open a short-lived scope around the statements that
        need the database and serialize ORM objects inside it. Session dependencies are found in
        the code (a function that yields or returns a session, or one used on a parameter typed
        as a session; see docs/discovery.md) besides the configured names; the message names a
        short scope the project has (one that wraps or opens the same session), or none when it
        has none.
    """,
    bad="""
        @router.get("/tools")
        async def list_tools(db: Session = Depends(get_db)):
            tools = tool_service.list_tools(db)
            await notify_slow_service()          # the connection is still checked out here
            return tools                          # ...and while FastAPI serializes this
    """,
    good="""
        @router.get("/tools")
        async def list_tools():
            with fresh_db_session() as db:
                tools = [t.model_dump() for t in tool_service.list_tools(db)]
            await notify_slow_service()          # no connection held
            return tools
    """,
)

_rule(
    code="DBS002",
    name="request-scoped-session-in-helper-dependency",
    summary="session dependency inside a helper dependency (every endpoint using it holds a session)",
    message="session dependency {dependency} in helper dependency {function} makes every endpoint using it hold a session; {advice} inside the helper instead",
    why="""
        A dependency function that itself depends on `get_db` (for example `get_current_user`)
        makes every endpoint that uses it hold a request-scoped session, even endpoints that
        never touch the database. Open a short scope inside the helper and return plain values.
        Reported only where FastAPI resolves the function: it is referenced as `Depends(fn)`,
        `Security(fn)`, in `dependencies=[...]` or `dependency_overrides`, it is what a
        dependency factory returns (`Depends(requires_access(...))`), or a class (its
        `__init__`) or instance (its `__call__`) used that way, anywhere in its top-level
        package. A function that is only called directly is not reported; a public one that
        nothing in the package mentions (a library's helper) is reported with the status
        `unreferenced`, and counts toward the burndown like any other finding.
    """,
    bad="""
        def get_current_user(token: str = Depends(oauth2), db: Session = Depends(get_db)):
            return db.get(User, decode(token).sub)
    """,
    good="""
        def get_current_user(token: str = Depends(oauth2)) -> UserInfo:
            with fresh_db_session() as db:
                user = db.get(User, decode(token).sub)
                return UserInfo.model_validate(user)
    """,
)

_rule(
    code="DBS003",
    name="orm-object-escapes-scope",
    summary="ORM object returned or yielded out of a short-lived session scope without serialization",
    message="ORM object {name} leaves the session scope of {session} unserialized; serialize it inside the scope (e.g. Schema.model_validate({name}))",
    why="""
        An ORM instance returned out of `with fresh_db_session() as db:` reaches code that runs
        after the session closed (FastAPI's response serialization, the caller). A lazy
        relationship read there raises DetachedInstanceError, and with expire_on_commit=True
        any attribute read does. Reported when that can happen: the model has a lazy
        relationship the query did not load, or the object was expired (a commit with
        expire_on_commit=True, a rollback). Convert to a schema or dict inside the scope.
    """,
    bad="""
        def load_team(team_id: int) -> Team:
            with fresh_db_session() as db:
                return db.get(Team, team_id)     # caller's team.members raises
    """,
    good="""
        def load_team(team_id: int) -> TeamRead:
            with fresh_db_session() as db:
                return TeamRead.model_validate(db.get(Team, team_id))
    """,
)

_rule(
    code="DBS004",
    name="write-to-detached-object",
    summary="write to an ORM object after its session closed, or to one no session holds (the write is silently lost)",
    message="write to {name}.{attribute} is silently lost because {why}; make the change inside a session scope and commit",
    why="""
        Setting an attribute on a detached or transient instance changes only the Python
        object. Nothing tracks it, nothing flushes it: the database never sees the write, and no
        error is raised. Without configuration, a call counts as a source of such objects when
        the function it reaches (through `self.helper()`, `Service(db).method()`, a
        module-level instance, an imported function) may return, on some path, an instance it
        built and never added to a session (`Model(**cached)`, `Model.model_validate(...)`),
        a copy or an unpickled object: a lookup that rebuilds rows from a cache. A write to
        such an object followed by a `commit()`/`flush()` is reported, even when the object is
        read again afterwards; once per object and commit. Objects from a configured
        `db-session-detached-sources` function count as detached. Not reported when the object
        is handed to `add()`/`merge()`, which carries the change into a session, or, before the
        commit, to other code or one of its own methods (which may save it); a write after
        the scope closed that is only read back and never committed is not reported either (a
        field scrubbed before a response).
    """,
    bad="""
        user = await auth_service.get_user_by_email(email)   # EmailUser(**cached) on a cache hit
        user.password_change_required = True                 # lost on the cache-hit path
        db.commit()
    """,
    good="""
        user = db.scalars(select(EmailUser).where(EmailUser.email == email)).one()
        user.password_change_required = True
        db.commit()
    """,
)

_rule(
    code="DBS005",
    name="lazy-load-after-scope",
    summary="lazy relationship (or any attribute of an expired object) read after the session scope ended",
    message="{name}.{attribute} {problem}; {fix}",
    why="""
        A lazy relationship is loaded on first access through the instance's session. After the
        session closed, the access raises DetachedInstanceError; so does a property or method
        of the model that reads one. If the object was expired first (commit with
        expire_on_commit=True, rollback, expire()), every attribute read needs the session and
        raises. Relationships loaded inside the scope (read there, `selectinload`/`joinedload`)
        or with the object (`lazy="selectin"`, `"joined"`, `"subquery"`, `"immediate"`, also
        through SQLModel's `sa_relationship_kwargs`) are safe, and so is a property that reads
        only those; `noload`, `dynamic` and `write_only` relationships never load on access. A
        `lazy="raise"` relationship that was not eager-loaded raises InvalidRequestError on
        access, inside the scope as well: reported with its own message.
    """,
    bad="""
        with fresh_db_session() as db:
            team = db.get(Team, team_id)
        names = [m.name for m in team.members]   # DetachedInstanceError
    """,
    good="""
        with fresh_db_session() as db:
            team = db.get(Team, team_id)
            names = [m.name for m in team.members]
    """,
)

_rule(
    code="DBS006",
    name="orm-object-stored-long-lived",
    summary="ORM object stored where it outlives its session (global, cache, singleton, app.state, background task)",
    message="ORM object {name} is stored in {target}, which outlives its session; store a serialized copy or its primary key instead",
    why="""
        Module globals and containers, caches (an `lru_cache`/`cache`d function's results),
        class attributes, attributes of an instance that lives as long as the process (a
        module-level instance, an `_instance` singleton, a `functools.cache`d factory's
        result), `app.state`/`request.state` are read after the session that loaded the object
        closed, by later requests: relationship reads raise, writes are lost, and after that
        session rolled back every read raises. Background tasks, new asyncio tasks and the
        generators of a streaming response run after the scope closed too; they are reported
        only when they can fail there: a lazy relationship read, any read of an expired
        object, a write (the object is followed into a function of the same module it is
        handed to; column reads with `expire_on_commit=False` are fine; code in other modules
        is not read, so there only an expired object is reported).
    """,
    bad="""
        class GlobalConfigCache:
            def get(self, db):
                if self._cache is None:
                    self._cache = db.query(GlobalConfig).first()   # kept past the request
                return self._cache

        global_config_cache = GlobalConfigCache()
    """,
    good="""
        class GlobalConfigCache:
            def get(self, db):
                if self._cache is None:
                    self._cache = GlobalConfigRead.model_validate(db.query(GlobalConfig).first())
                return self._cache

        global_config_cache = GlobalConfigCache()
    """,
)

_rule(
    code="DBS007",
    name="session-used-after-close",
    summary="session used after its close() (SQLAlchemy silently reopens it)",
    message="session {session} is used after {session}.close() on line {close_line}; SQLAlchemy silently reopens it, undoing the early release",
    why="""
        `Session.close()` releases the connection, but the session stays usable: the next query
        (`query`, `execute`, `get`, `add`, `flush`...) checks a connection out of the pool again
        and begins a new transaction, which then lives until the request ends. The early
        release is undone without any error. `commit()`/`rollback()` after close do not count.
    """,
    bad="""
        db.commit()
        db.close()
        audit = db.query(Audit).count()          # checks out a new connection
    """,
    good="""
        audit = db.query(Audit).count()
        db.commit()
        db.close()
    """,
)

_rule(
    code="DBS008",
    name="session-without-guaranteed-close",
    summary="session acquired without a guaranteed close (next(get_db()), SessionLocal() without with/finally)",
    message="session {session} from {source} has no guaranteed close; use `with {scope}() as {session}:` or close it in a finally block",
    why="""
        `next(get_db())` runs the generator only to its `yield` and drops it: CPython closes the
        session at once, the first query silently reopens it, and nothing closes it again.
        `SessionLocal()` with a close() that an exception can skip keeps its connection checked
        out while the error propagates. Any generator provider counts, configured or discovered,
        also imported under another name, bound first (`gen = get_db(); db = next(gen)`) or
        handed straight to a call (`Service(next(get_db()))`). A `finally: db.close()`, a `with`
        block over the session, or handing it on (returned, stored on an object) counts as a
        guaranteed close.
    """,
    bad="""
        db = next(get_db())
        tools = db.query(Tool).all()
        db.close()                                # skipped if the query raises
    """,
    good="""
        with fresh_db_session() as db:
            tools = db.query(Tool).all()
    """,
)

_rule(
    code="DBS009",
    name="lazy-load-in-async-scope",
    summary="lazy relationship read inside an async session scope (MissingGreenlet)",
    message="{name}.{attribute} lazily loads a relationship inside async scope {session}, which raises MissingGreenlet; eager-load it (selectinload) or use AsyncAttrs.awaitable_attrs",
    why="""
        An AsyncSession cannot run the implicit IO of a lazy load: reading a relationship that
        was not loaded raises MissingGreenlet even while the session is open. Load it with
        the query (selectinload/joinedload) or await `obj.awaitable_attrs.rel`.
    """,
    bad="""
        async with AsyncSessionLocal() as db:
            team = await db.get(Team, team_id)
            names = [m.name for m in team.members]   # MissingGreenlet
    """,
    good="""
        async with AsyncSessionLocal() as db:
            team = (await db.scalars(select(Team).options(selectinload(Team.members)))).one()
            names = [m.name for m in team.members]
    """,
    default_enabled=False,
)

_rule(
    code="DBS100",
    name="burndown-ratchet",
    summary="a module holds more findings of a ratcheted code than its burndown baseline allows",
    message="{module} holds {ratcheted} findings: {count}, over its baseline of {allowed} ({new}); use a short scope instead, or update the baseline if a function only moved",
    why="""
        The burndown baseline records how many findings of each ratcheted code (DBS001, DBS002
        by default) each module holds. Counts may only go down. A new request-scoped session in
        a module pushes it over its baseline.
    """,
    bad="""
        # baseline: app/routers/tools.py DBS001 = 3; the module now has 4
        @router.get("/tools/new")
        def new_endpoint(db: Session = Depends(get_db)): ...
    """,
    good="""
        @router.get("/tools/new")
        def new_endpoint():
            with fresh_db_session() as db: ...
    """,
)


def format_message(code: str, /, **fields: object) -> str:
    """Render the one-line message for a code, starting with the code."""
    return f"{code} " + RULES[code].message.format(**fields)


def rule_markdown(rule: Rule) -> str:
    """The per-rule document (docs/rules/<CODE>.md): reason, bad and good example."""
    state = "" if rule.default_enabled else "\n\nOff by default: enable it with `extend-select`.\n"
    return (
        f"# {rule.code}: {rule.name}\n\n{rule.summary[0].upper()}{rule.summary[1:]}.{state}\n\n"
        f"## Why\n\n{' '.join(rule.why.split())}\n\n"
        f"## Bad\n\n```python\n{rule.bad}\n```\n\n## Good\n\n```python\n{rule.good}\n```\n\n"
        f"Message: `{rule.code} {rule.message}`\n"
    )
