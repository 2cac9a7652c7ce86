"""The git side of `SqlStore` (the `GitStore` port): app sources, SSH keys, webhook deliveries."""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from controller.adapters.secrets import Cipher
from controller.adapters.store.tables import app_sources, apps, deploys, ssh_keys, webhook_deliveries
from controller.domain.errors import Conflict, NotFound
from controller.domain.git_records import AppSource, DeliveryStatus, SshKey, WebhookDelivery

_SECRET_COLUMNS = ("webhook_secret", "repo_token", "deploy_key")


class GitStoreRows:
    """A mixin of `SqlStore`, which provides the connections and the cipher."""

    _cipher: Cipher

    def _reading(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _writing(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # App sources

    def get_app_source(self, app: str) -> AppSource | None:
        with self._reading() as conn:
            _require_app(conn, app)
            row = conn.execute(select(app_sources).where(app_sources.c.app == app)).mappings().first()
        if row is None:
            return None
        values = dict(row)
        for column in _SECRET_COLUMNS:
            if values[column] is not None:
                values[column] = self._cipher.decrypt(values[column])
        return AppSource(**values)

    def put_app_source(self, source: AppSource) -> None:
        values: dict[str, Any] = {
            "branch": source.branch,
            "repo_url": source.repo_url,
            "repo_username": source.repo_username,
            "deploy_key_public": source.deploy_key_public,
        }
        for column in _SECRET_COLUMNS:
            plain = getattr(source, column)
            values[column] = self._cipher.encrypt(plain) if plain is not None else None
        with self._writing() as conn:
            _require_app(conn, source.app, lock=True)
            changed = conn.execute(
                update(app_sources).where(app_sources.c.app == source.app).values(**values)
            )
            if changed.rowcount == 0:
                conn.execute(insert(app_sources).values(app=source.app, **values))

    # SSH keys

    def add_ssh_key(self, key: SshKey) -> None:
        try:
            with self._writing() as conn:
                taken = conn.execute(
                    select(ssh_keys.c.name).where(
                        (ssh_keys.c.name == key.name) | (ssh_keys.c.fingerprint == key.fingerprint)
                    )
                ).scalar()
                if taken is not None:
                    raise Conflict(
                        f"SSH key {key.name!r} exists"
                        if taken == key.name
                        else f"that key is already added as {taken!r}"
                    )
                conn.execute(insert(ssh_keys).values(**asdict(key)))
        except IntegrityError as exc:
            raise Conflict(f"SSH key {key.name!r} or its fingerprint is already there") from exc

    def list_ssh_keys(self) -> list[SshKey]:
        with self._reading() as conn:
            rows = conn.execute(select(ssh_keys).order_by(ssh_keys.c.name)).mappings().all()
        return [SshKey(**row) for row in rows]

    def remove_ssh_key(self, name: str) -> None:
        with self._writing() as conn:
            if conn.execute(delete(ssh_keys).where(ssh_keys.c.name == name)).rowcount == 0:
                raise NotFound(f"no SSH key named {name!r}")

    # Webhook deliveries

    def add_webhook_deliveries(self, batch: Sequence[WebhookDelivery]) -> list[WebhookDelivery | None]:
        """Record a batch in one transaction (one fsync for many deliveries: group commit).

        Each result is the recorded delivery with its seq, or None for a replay of one
        recorded before or earlier in the batch, or for an app that no longer exists.
        """
        with self._writing() as conn:
            names = {delivery.app for delivery in batch}
            # Held (PostgreSQL) so none of these apps is deleted before its rows are in.
            locked = select(apps.c.name).where(apps.c.name.in_(names)).with_for_update()
            existing = set(conn.execute(locked).scalars())
            present = [delivery if delivery.app in existing else None for delivery in batch]
            return insert_deliveries(conn, present)

    def pending_webhook_deliveries(self) -> list[WebhookDelivery]:
        query = (
            select(webhook_deliveries)
            .where(webhook_deliveries.c.status == DeliveryStatus.PENDING.value)
            .order_by(webhook_deliveries.c.seq)
        )
        with self._reading() as conn:
            return [_load_delivery(row) for row in conn.execute(query).mappings().all()]

    def finish_webhook_deliveries(
        self,
        seqs: Sequence[int],
        *,
        status: DeliveryStatus,
        deploy_id: str | None = None,
        error: str | None = None,
    ) -> None:
        with self._writing() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.seq.in_(list(seqs)))
                .values(status=status.value, deploy_id=deploy_id, error=error)
            )

    def list_webhook_deliveries(self, app: str, limit: int = 20) -> list[WebhookDelivery]:
        """Newest first; a delivery with a job shows its job's status and error."""
        query = (
            select(
                webhook_deliveries,
                deploys.c.status.label("job_status"),
                deploys.c.error.label("job_error"),
            )
            .select_from(
                webhook_deliveries.outerjoin(deploys, deploys.c.id == webhook_deliveries.c.deploy_id)
            )
            .where(webhook_deliveries.c.app == app)
            .order_by(webhook_deliveries.c.seq.desc())
            .limit(limit)
        )
        with self._reading() as conn:
            _require_app(conn, app)
            rows = conn.execute(query).mappings().all()
        results = []
        for row in rows:
            values = dict(row)
            job_status, job_error = values.pop("job_status"), values.pop("job_error")
            delivery = _load_delivery(values)
            if job_status is not None:
                delivery = replace(delivery, status=DeliveryStatus(job_status), error=job_error)
            results.append(delivery)
        return results

    def find_webhook_delivery(self, app: str, provider: str, delivery_id: str) -> WebhookDelivery | None:
        query = select(webhook_deliveries).where(
            (webhook_deliveries.c.app == app)
            & (webhook_deliveries.c.provider == provider)
            & (webhook_deliveries.c.delivery_id == delivery_id)
        )
        with self._reading() as conn:
            row = conn.execute(query).mappings().first()
        return _load_delivery(row) if row is not None else None

    def webhook_commit_seen(self, app: str, branch: str, commit: str) -> bool:
        """Whether a delivery (from any provider) for `branch` named `commit` before."""
        query = (
            select(webhook_deliveries.c.seq)
            .where(
                (webhook_deliveries.c.app == app)
                & (webhook_deliveries.c.branch == branch)
                & (webhook_deliveries.c.commit_sha == commit)
            )
            .limit(1)
        )
        with self._reading() as conn:
            return conn.execute(query).first() is not None

    def last_webhook_delivery(self, app: str, branch: str) -> WebhookDelivery | None:
        """The newest delivery recorded for the app (from any provider) for `branch`."""
        query = (
            select(webhook_deliveries)
            .where((webhook_deliveries.c.app == app) & (webhook_deliveries.c.branch == branch))
            .order_by(webhook_deliveries.c.seq.desc())
            .limit(1)
        )
        with self._reading() as conn:
            row = conn.execute(query).mappings().first()
        return _load_delivery(row) if row is not None else None

    def webhook_delivery_of_deploy(self, app: str, deploy_id: str) -> WebhookDelivery | None:
        """The delivery whose build job `deploy_id` is, if it was one."""
        query = select(webhook_deliveries).where(
            (webhook_deliveries.c.app == app) & (webhook_deliveries.c.deploy_id == deploy_id)
        )
        with self._reading() as conn:
            row = conn.execute(query).mappings().first()
        return _load_delivery(row) if row is not None else None


def _require_app(conn: Connection, name: str, *, lock: bool = False) -> None:
    query = select(apps.c.name).where(apps.c.name == name)
    if conn.execute(query.with_for_update() if lock else query).first() is None:
        raise NotFound(f"app {name!r} not found")


def _delivery_row(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "app": delivery.app,
        "provider": delivery.provider,
        "delivery_id": delivery.delivery_id,
        "branch": delivery.branch,
        "commit_sha": delivery.commit,
        "received_at": delivery.received_at,
        "status": delivery.status.value,
        "deploy_id": delivery.deploy_id,
        "error": delivery.error,
    }


def insert_deliveries(
    conn: Connection, batch: Sequence[WebhookDelivery | None]
) -> list[WebhookDelivery | None]:
    """Insert the deliveries of a batch (in a transaction that holds their apps' rows).

    Each result is the recorded delivery with its seq, or None for no delivery or for a
    replay of one recorded before or earlier in the batch.
    """
    given = [delivery for delivery in batch if delivery is not None]
    seen: set[tuple[str, str, str]] = set()
    if given:
        # Each column by itself: a lookup of the unique index for each combination, not a scan.
        query = select(
            webhook_deliveries.c.app, webhook_deliveries.c.provider, webhook_deliveries.c.delivery_id
        ).where(
            webhook_deliveries.c.app.in_({d.app for d in given})
            & webhook_deliveries.c.provider.in_({d.provider for d in given})
            & webhook_deliveries.c.delivery_id.in_({d.delivery_id for d in given})
        )
        seen = {(row.app, row.provider, row.delivery_id) for row in conn.execute(query)}
    new: list[WebhookDelivery | None] = []
    for delivery in batch:
        if delivery is None or (identity := (delivery.app, delivery.provider, delivery.delivery_id)) in seen:
            new.append(None)
            continue
        seen.add(identity)
        new.append(delivery)
    rows = [_delivery_row(delivery) for delivery in new if delivery is not None]
    if not rows:
        return new
    # One statement for the batch; the seqs come back in the order of the rows.
    returning = insert(webhook_deliveries).returning(webhook_deliveries.c.seq, sort_by_parameter_order=True)
    seqs = iter(conn.execute(returning, rows).scalars().all())
    return [replace(delivery, seq=next(seqs)) if delivery is not None else None for delivery in new]


def _load_delivery(row: RowMapping | dict[str, Any]) -> WebhookDelivery:
    values = dict(row)
    values["commit"] = values.pop("commit_sha")
    values["status"] = DeliveryStatus(values["status"])
    return WebhookDelivery(**values)
