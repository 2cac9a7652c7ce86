"""`SqlStore`: the `Store` port on SQLAlchemy Core, SQLite or PostgreSQL, one transaction per call."""

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Update, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from controller.adapters.secrets import Cipher
from controller.adapters.store.account_store import AccountStoreRows, insert_audit_events
from controller.adapters.store.engine import create_database_engine, for_writing
from controller.adapters.store.git_store import GitStoreRows, insert_deliveries
from controller.adapters.store.tables import UtcDateTime, apps, config_vars, deploys, domains, releases
from controller.domain.account_records import AuditEvent
from controller.domain.errors import Conflict, DeliveryReceived, DockyardError, NotFound
from controller.domain.git_records import WebhookDelivery
from controller.domain.models import App, Deploy, DeployKind, DeployStatus, HealthCheck, Release

_UNFINISHED = (DeployStatus.QUEUED.value, DeployStatus.RUNNING.value)
_QUEUED = DeployStatus.QUEUED.value

# The statements of every request and job, built once with bound parameters: building a
# statement and working out its cache key took longer than running it.
_APP = select(apps).where(apps.c.name == bindparam("name"))
_APP_LOCKED = _APP.with_for_update()
_ALL_DOMAINS = select(domains.c.app, domains.c.domain).order_by(domains.c.app, domains.c.domain)
_APP_DOMAINS = _ALL_DOMAINS.where(domains.c.app == bindparam("app"))
_CONFIG = (
    select(config_vars.c.key, config_vars.c.value)
    .where(config_vars.c.app == bindparam("app"))
    .order_by(config_vars.c.key)
)
_DEPLOY = select(deploys).where(deploys.c.id == bindparam("deploy_id"))
_DEPLOY_LOCKED = _DEPLOY.with_for_update()
_APPS_LOCKED = (
    select(apps.c.name).where(apps.c.name.in_(bindparam("names", expanding=True))).with_for_update()
)
_INSERT_DEPLOYS = insert(deploys)


def _claim_next_statement(*, builds: bool) -> Update:
    oldest = (
        select(deploys.c.id)
        .where(deploys.c.app == bindparam("claim_app"), deploys.c.status == _QUEUED)
        .order_by(deploys.c.created_at, deploys.c.id)
        .limit(1)
        .scalar_subquery()
    )
    query = update(deploys).where(deploys.c.id == oldest, deploys.c.status == _QUEUED)
    if not builds:
        query = query.where(deploys.c.kind != DeployKind.BUILD.value)
    started = bindparam("now", type_=UtcDateTime())
    return query.values(status=DeployStatus.RUNNING.value, started_at=started).returning(*deploys.c)


_CLAIM_NEXT = {builds: _claim_next_statement(builds=builds) for builds in (True, False)}
# update_deploy's statements, by which of status, started_at, finished_at, release and error it sets
_UPDATE_DEPLOY: dict[tuple[bool, ...], Update] = {}
_DEPLOY_FIELDS = tuple(f.name for f in fields(Deploy))
_DEPLOY_COLUMNS = tuple(deploys.c[name] for name in _DEPLOY_FIELDS)
assert _DEPLOY_FIELDS[:4] == ("id", "app", "kind", "status")  # as _deploy_from_row reads them
_KINDS = {kind.value: kind for kind in DeployKind}
_STATUSES = {status.value: status for status in DeployStatus}
# Every app, without its serving record (read on its own) nor its domains (another query).
_ALL_APPS = select(apps.c.name, apps.c.created_at, apps.c.web_scale, apps.c.current_release).order_by(
    apps.c.name
)
_NEWEST = (
    select(deploys.c.app, func.max(deploys.c.created_at).label("created_at"))
    .group_by(deploys.c.app)
    .subquery()
)
# Each app's newest deploy; built once (building it took ~1.5 ms a call). A tie on the time:
# the last id wins, as the rows come in id order.
_LAST_DEPLOYS = (
    select(*_DEPLOY_COLUMNS)
    .join(_NEWEST, (deploys.c.app == _NEWEST.c.app) & (deploys.c.created_at == _NEWEST.c.created_at))
    .order_by(deploys.c.id)
)


class SqlStore(GitStoreRows, AccountStoreRows):
    """Durable state in a database whose schema `upgrade_database` has brought to head.

    Thread-safe: every call borrows a pooled connection for one short transaction.
    Config values and release config snapshots are encrypted with `cipher`.
    """

    def __init__(self, url: str, cipher: Cipher) -> None:
        self._engine = create_database_engine(url)
        self._write_engine = for_writing(self._engine)
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
        # SQLite's busy handler for up to 100 ms per try; queueing writers of this process
        # on a lock instead hands the database over without sleeping.
        self._write_lock: threading.Lock | nullcontext[None] = (
            threading.Lock() if self._engine.dialect.name == "sqlite" else nullcontext()
        )
        self._cipher = cipher

    def close(self) -> None:
        """Close the pooled connections."""
        self._engine.dispose()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._write_lock, self._write_engine.begin() as conn:
            yield conn

    # Apps

    def create_app(self, name: str) -> App:
        app = App(name=name, created_at=datetime.now(UTC))
        try:
            with self._writing() as conn:
                conn.execute(
                    insert(apps).values(name=name, created_at=app.created_at, web_scale=app.web_scale)
                )
        except IntegrityError as exc:
            raise Conflict(f"app {name!r} already exists") from exc
        return app

    def get_app(self, name: str) -> App:
        with self._reading() as conn:
            row = _require_app(conn, name)
            return _load_app(row, _domains_by_app(conn, name).get(name, ()))

    def list_apps(self) -> list[App]:
        with self._reading() as conn:
            rows = conn.execute(_ALL_APPS).all()
            owned = _domains_by_app(conn)
        return [
            App(
                name=name,
                created_at=created_at,
                domains=owned.get(name, ()),
                web_scale=scale,
                current_release=release,
            )
            for name, created_at, scale, release in rows
        ]

    def delete_app(self, name: str) -> None:
        with self._writing() as conn:
            # Foreign keys cascade to domains, config, releases and deploys.
            if conn.execute(delete(apps).where(apps.c.name == name)).rowcount == 0:
                raise _app_not_found(name)

    def set_web_scale(self, name: str, count: int) -> None:
        self._update_app(name, web_scale=count)

    def set_current_release(self, name: str, number: int | None) -> None:
        self._update_app(name, current_release=number)

    def _update_app(self, name: str, **values: Any) -> None:
        with self._writing() as conn:
            if conn.execute(update(apps).where(apps.c.name == name).values(**values)).rowcount == 0:
                raise _app_not_found(name)

    # Domains

    def add_domain(self, app: str, domain: str) -> None:
        try:
            with self._writing() as conn:
                _require_app(conn, app, lock=True)
                _refuse_taken_domain(conn, domain)
                conn.execute(insert(domains).values(domain=domain, app=app))
        except IntegrityError as exc:
            # Another writer took it between the check and the insert (PostgreSQL).
            with self._reading() as conn:
                _refuse_taken_domain(conn, domain)
            raise Conflict(f"domain {domain!r} could not be added to app {app!r}") from exc

    def remove_domain(self, app: str, domain: str) -> None:
        with self._writing() as conn:
            _require_app(conn, app, lock=True)
            gone = conn.execute(delete(domains).where(domains.c.app == app, domains.c.domain == domain))
            if gone.rowcount == 0:
                raise NotFound(f"app {app!r} has no domain {domain!r}")

    # Config

    def get_config(self, app: str) -> dict[str, str]:
        with self._reading() as conn:
            _require_app(conn, app)
            return self._load_config(conn, app)

    def update_config(self, app: str, *, set_: dict[str, str], unset: Sequence[str]) -> dict[str, str]:
        with self._writing() as conn:
            _require_app(conn, app, lock=True)
            doomed = set(unset) | set(set_)
            if doomed:
                doomed_rows = config_vars.c.key.in_(doomed)
                conn.execute(delete(config_vars).where(config_vars.c.app == app, doomed_rows))
            if set_:
                rows = [{"app": app, "key": k, "value": self._cipher.encrypt(v)} for k, v in set_.items()]
                conn.execute(insert(config_vars), rows)
            return self._load_config(conn, app)

    def _load_config(self, conn: Connection, app: str) -> dict[str, str]:
        rows = conn.execute(_CONFIG, {"app": app})
        return {key: self._cipher.decrypt(token) for key, token in rows}

    # Releases

    def next_release_number(self, app: str) -> int:
        with self._reading() as conn:
            _require_app(conn, app)
            latest = conn.execute(select(func.max(releases.c.number)).where(releases.c.app == app)).scalar()
            return 1 if latest is None else int(latest) + 1

    def add_release(self, release: Release) -> None:
        try:
            with self._writing() as conn:
                _require_app(conn, release.app, lock=True)
                conn.execute(insert(releases).values(**self._release_row(release)))
        except IntegrityError as exc:
            raise Conflict(f"release {release.number} of app {release.app!r} already exists") from exc

    def get_release(self, app: str, number: int) -> Release:
        with self._reading() as conn:
            query = select(releases).where(releases.c.app == app, releases.c.number == number)
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"release {number} of app {app!r} not found")
        return self._load_release(row)

    def list_releases(self, app: str) -> list[Release]:
        with self._reading() as conn:
            _require_app(conn, app)
            query = select(releases).where(releases.c.app == app).order_by(releases.c.number.desc())
            rows = conn.execute(query).mappings().all()
        return [self._load_release(row) for row in rows]

    def _release_row(self, release: Release) -> dict[str, Any]:
        row = asdict(release)
        row["config"] = self._cipher.encrypt(json.dumps(release.config, sort_keys=True))
        return row

    def _load_release(self, row: RowMapping) -> Release:
        values = dict(row)
        values["config"] = json.loads(self._cipher.decrypt(row["config"]))
        values["healthchecks"] = tuple(HealthCheck(**check) for check in row["healthchecks"])
        return Release(**values)

    # Deploys

    def create_deploys(
        self,
        items: Sequence[tuple[Deploy, dict[str, Any]]],
        *,
        deliveries: Sequence[WebhookDelivery | None] = (),
        audits: Sequence[AuditEvent | None] = (),
    ) -> list[DockyardError | None]:
        """Store a batch of deploys in one transaction; each one's error (None when stored).

        `deliveries` (one per item, or none) are the webhook deliveries that asked for the
        deploys, recorded with them: a deploy whose delivery was recorded before is not
        stored (DeliveryReceived). `audits` (one per item, or none) are the audit events of
        the requests, each stored with its deploy only. When the batch breaks a constraint
        (a duplicate id), each row is tried on its own.
        """
        rows = []
        for deploy, params in items:
            row = _deploy_row(deploy)
            row["params"] = self._cipher.encrypt(json.dumps(params))
            rows.append(row)
        paired = list(deliveries) or [None] * len(rows)
        events = list(audits) or [None] * len(rows)
        try:
            with self._writing() as conn:
                names = sorted({row["app"] for row in rows})
                known = set(conn.execute(_APPS_LOCKED, {"names": names}).scalars())
                return self._insert_deploys(conn, rows, paired, events, known)
        except IntegrityError:
            return [
                self._insert_deploy(row, delivery, event)
                for row, delivery, event in zip(rows, paired, events, strict=True)
            ]

    def _insert_deploys(
        self,
        conn: Connection,
        rows: list[dict[str, Any]],
        deliveries: list[WebhookDelivery | None],
        audits: list[AuditEvent | None],
        known: set[str],
    ) -> list[DockyardError | None]:
        """Insert the rows of deploys (of `known` apps), their deliveries first and the
        audit events of the stored ones after."""
        present = [d if d is not None and d.app in known else None for d in deliveries]
        recorded = insert_deliveries(conn, present)
        errors: list[DockyardError | None] = []
        for row, delivery, record in zip(rows, deliveries, recorded, strict=True):
            if row["app"] not in known:
                errors.append(_app_not_found(row["app"]))
            elif delivery is not None and record is None:
                errors.append(DeliveryReceived(f"delivery {delivery.delivery_id} was already received"))
            else:
                errors.append(None)
        stored = [row for row, error in zip(rows, errors, strict=True) if error is None]
        if stored:
            conn.execute(_INSERT_DEPLOYS, stored)
        insert_audit_events(
            conn, [e for e, error in zip(audits, errors, strict=True) if e is not None and error is None]
        )
        return errors

    def _insert_deploy(
        self, row: dict[str, Any], delivery: WebhookDelivery | None, audit: AuditEvent | None
    ) -> DockyardError | None:
        try:
            with self._writing() as conn:
                _require_app(conn, row["app"], lock=True)
                (error,) = self._insert_deploys(conn, [row], [delivery], [audit], {row["app"]})
                if error is not None:
                    return error
        except IntegrityError:
            return Conflict(f"deploy {row['id']!r} already exists")
        except NotFound as missing:
            return missing
        return None

    def get_deploy_params(self, deploy_id: str) -> dict[str, Any]:
        with self._reading() as conn:
            token = _require_deploy(conn, deploy_id)["params"]
        params: dict[str, Any] = json.loads(self._cipher.decrypt(token)) if token else {}
        return params

    def queued_deploys(self, limit: int | None = None, *, app: str | None = None) -> list[Deploy]:
        """Queued deploys (of `app` only, when given), oldest first (the first `limit` of them)."""
        query = select(*_DEPLOY_COLUMNS).where(deploys.c.status == DeployStatus.QUEUED.value)
        if app is not None:
            query = query.where(deploys.c.app == app)
        query = query.order_by(deploys.c.created_at, deploys.c.id).limit(limit)
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return [_deploy_from_row(row) for row in rows]

    def queued_apps(self) -> dict[str, datetime]:
        """Each app that has queued deploys, with the time its oldest one was queued."""
        query = (
            select(deploys.c.app, func.min(deploys.c.created_at))
            .where(deploys.c.status == DeployStatus.QUEUED.value)
            .group_by(deploys.c.app)
        )
        with self._reading() as conn:
            return {app: oldest for app, oldest in conn.execute(query)}

    def claim_deploy(
        self, deploy_id: str, status: DeployStatus = DeployStatus.RUNNING, *, error: str | None = None
    ) -> bool:
        """Move a queued deploy to `status` in one statement; False when it was not queued."""
        now = datetime.now(UTC)
        values: dict[str, Any] = {"status": status.value}
        if status is DeployStatus.RUNNING:
            values["started_at"] = now
        if status.is_final:
            values["finished_at"] = now
        if error is not None:
            values["error"] = error
        with self._writing() as conn:
            result = conn.execute(
                update(deploys)
                .where(deploys.c.id == deploy_id, deploys.c.status == DeployStatus.QUEUED.value)
                .values(**values)
            )
            return result.rowcount == 1

    def claim_deploys(
        self, deploy_ids: Sequence[str], status: DeployStatus, *, error: str | None = None
    ) -> list[str]:
        """Queued -> `status` for many at once (one transaction); the ids that were queued."""
        if not deploy_ids:
            return []
        now = datetime.now(UTC)
        values: dict[str, Any] = {"status": status.value, "error": error}
        if status.is_final:
            values["finished_at"] = now
        with self._writing() as conn:
            rows = conn.execute(
                update(deploys)
                .where(deploys.c.id.in_(list(deploy_ids)), deploys.c.status == DeployStatus.QUEUED.value)
                .values(**values)
                .returning(deploys.c.id)
            )
            return [str(row[0]) for row in rows]

    def claim_next(self, app: str, *, builds: bool = True) -> tuple[Deploy, dict[str, Any]] | None:
        """Move the app's oldest queued deploy to running, in one statement; it and its params.

        None when the app has nothing queued, or (with `builds` False) when its oldest
        queued deploy is a build.
        """
        with self._writing() as conn:
            claimed = conn.execute(_CLAIM_NEXT[builds], {"claim_app": app, "now": datetime.now(UTC)})
            row = claimed.mappings().first()
        if row is None:
            return None
        token = row["params"]
        params: dict[str, Any] = json.loads(self._cipher.decrypt(token)) if token else {}
        return _load_deploy(row), params

    def set_serving(self, app: str, container_ids: Sequence[str]) -> None:
        self._update_app(app, serving=json.dumps(list(container_ids)))

    def get_serving(self, app: str) -> list[str] | None:
        """The ids of the containers the proxy routes `app` to, None if never recorded."""
        with self._reading() as conn:
            serving = _require_app(conn, app)["serving"]
        return list(json.loads(serving)) if serving is not None else None

    def get_deploy(self, deploy_id: str) -> Deploy:
        with self._reading() as conn:
            return _load_deploy(_require_deploy(conn, deploy_id))

    def update_deploy(
        self,
        deploy_id: str,
        *,
        status: DeployStatus | None = None,
        release_number: int | None = None,
        error: str | None = None,
    ) -> Deploy:
        """Change a deploy in one statement; started_at and finished_at are set once only."""
        shape = (
            status is not None,
            status is DeployStatus.RUNNING,
            status is not None and status.is_final,
            release_number is not None,
            error is not None,
        )
        values = {
            "deploy_id": deploy_id,
            "new_status": status.value if status is not None else None,
            "now": datetime.now(UTC),
            "new_release": release_number,
            "new_error": error,
        }
        with self._writing() as conn:
            if not any(shape):
                return _load_deploy(_require_deploy(conn, deploy_id))
            row = conn.execute(_update_deploy_statement(shape), values).mappings().first()
        if row is None:
            raise NotFound(f"deploy {deploy_id!r} not found")
        return _load_deploy(row)

    def list_deploys(self, app: str | None = None, limit: int = 50) -> list[Deploy]:
        query = (
            select(*_DEPLOY_COLUMNS).order_by(deploys.c.created_at.desc(), deploys.c.id.desc()).limit(limit)
        )
        with self._reading() as conn:
            if app is not None:
                _require_app(conn, app)
                query = query.where(deploys.c.app == app)
            rows = conn.execute(query).all()
        return [_deploy_from_row(row) for row in rows]

    def last_deploys(self) -> dict[str, Deploy]:
        with self._reading() as conn:
            rows = conn.execute(_LAST_DEPLOYS).all()
        loaded = (_deploy_from_row(row) for row in rows)
        return {deploy.app: deploy for deploy in loaded}  # a tie on the time: the last id

    def unfinished_deploys(self) -> list[Deploy]:
        """Queued or running deploys, oldest first (the order to requeue them in)."""
        query = (
            select(*_DEPLOY_COLUMNS).where(deploys.c.status.in_(_UNFINISHED)).order_by(deploys.c.created_at)
        )
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return [_deploy_from_row(row) for row in rows]


def _app_not_found(name: str) -> NotFound:
    return NotFound(f"app {name!r} not found")


def _require_app(conn: Connection, name: str, *, lock: bool = False) -> RowMapping:
    """The app's row; `lock` holds it (PostgreSQL) so writes to one app's rows serialise."""
    row = conn.execute(_APP_LOCKED if lock else _APP, {"name": name}).mappings().first()
    if row is None:
        raise _app_not_found(name)
    return row


def _domains_by_app(conn: Connection, app: str | None = None) -> dict[str, tuple[str, ...]]:
    rows = conn.execute(_ALL_DOMAINS) if app is None else conn.execute(_APP_DOMAINS, {"app": app})
    owned: dict[str, tuple[str, ...]] = {}
    for owner, domain in rows:
        owned[owner] = (*owned.get(owner, ()), domain)
    return owned


def _load_app(row: RowMapping, app_domains: tuple[str, ...]) -> App:  # serving is read on its own
    return App(
        name=row["name"],
        created_at=row["created_at"],
        domains=app_domains,
        web_scale=row["web_scale"],
        current_release=row["current_release"],
    )


def _refuse_taken_domain(conn: Connection, domain: str) -> None:
    owner = conn.execute(select(domains.c.app).where(domains.c.domain == domain)).scalar()
    if owner is not None:
        raise Conflict(f"domain {domain!r} is already used by app {owner!r}")


def _update_deploy_statement(shape: tuple[bool, ...]) -> Update:
    """update_deploy's statement for a `shape` (built once per shape): started_at and
    finished_at are set once only."""
    statement = _UPDATE_DEPLOY.get(shape)
    if statement is not None:
        return statement
    sets_status, running, final, sets_release, sets_error = shape
    changes: dict[str, Any] = {}
    now = bindparam("now", type_=UtcDateTime())
    if sets_status:
        changes["status"] = bindparam("new_status")
    if running:
        changes["started_at"] = func.coalesce(deploys.c.started_at, now)
    if final:
        changes["finished_at"] = func.coalesce(deploys.c.finished_at, now)
    if sets_release:
        changes["release_number"] = bindparam("new_release")
    if sets_error:
        changes["error"] = bindparam("new_error")
    statement = (
        update(deploys).where(deploys.c.id == bindparam("deploy_id")).values(**changes).returning(*deploys.c)
    )
    _UPDATE_DEPLOY[shape] = statement
    return statement


def _require_deploy(conn: Connection, deploy_id: str, *, lock: bool = False) -> RowMapping:
    row = conn.execute(_DEPLOY_LOCKED if lock else _DEPLOY, {"deploy_id": deploy_id}).mappings().first()
    if row is None:
        raise NotFound(f"deploy {deploy_id!r} not found")
    return row


def _deploy_row(deploy: Deploy) -> dict[str, Any]:
    row = {f.name: getattr(deploy, f.name) for f in fields(deploy)}  # asdict() deep-copies: slower
    row["kind"] = deploy.kind.value
    row["status"] = deploy.status.value
    return row


def _deploy_from_row(row: Sequence[Any]) -> Deploy:
    """A deploy from a row of `_DEPLOY_COLUMNS` (lists read no params: encrypted, never shown).

    Positional, and the enums by a dict lookup: 200 rows of the dashboard took 1.4-1.8 ms
    through a dict of fields and the enums' own lookup, 0.8 ms so."""
    kind, status = row[2], row[3]
    return Deploy(
        row[0],
        row[1],
        _KINDS.get(kind) or DeployKind(kind),
        _STATUSES.get(status) or DeployStatus(status),
        *row[4:],
    )


def _load_deploy(row: RowMapping) -> Deploy:
    values = dict(row)
    values.pop("params", None)
    values["kind"] = DeployKind(row["kind"])
    values["status"] = DeployStatus(row["status"])
    return Deploy(**values)
