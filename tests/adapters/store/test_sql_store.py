"""SqlStore against real databases: the Store port's semantics, encryption at rest, threads."""

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import TypeDecorator, create_engine, select
from sqlalchemy.dialects import sqlite

from controller.adapters.store import SqlStore
from controller.adapters.store.engine import normalize_url
from controller.adapters.store.tables import UtcDateTime, config_vars, releases
from controller.domain.account_records import AuditEvent, AuditQuery
from controller.domain.errors import Conflict, NotFound
from controller.domain.models import Deploy, DeployKind, DeployStatus, HealthCheck, Release
from tests.store_support import create_deploy

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_release(app: str, number: int, **overrides: object) -> Release:
    values: dict[str, object] = {
        "app": app,
        "number": number,
        "image_id": f"sha256:{number:064x}",
        "source_digest": "abc123",
        "config": {"GREETING": "hello"},
        "port": 8080,
        "healthchecks": (HealthCheck(),),
        "created_at": T0 + timedelta(minutes=number),
        "deploy_id": f"{number:08x}",
        "description": f"release {number}",
    }
    values.update(overrides)
    return Release(**values)  # type: ignore[arg-type]


def make_deploy(app: str, deploy_id: str, minutes: int = 0) -> Deploy:
    return Deploy(
        id=deploy_id,
        app=app,
        kind=DeployKind.BUILD,
        status=DeployStatus.QUEUED,
        created_at=T0 + timedelta(minutes=minutes),
    )


def raw_values(database_url: str, column: object) -> list[str]:
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            return [str(value) for value in conn.execute(select(column)).scalars()]  # type: ignore[call-overload]
    finally:
        engine.dispose()


class TestApps:
    def test_create_get_list_delete(self, store: SqlStore) -> None:
        created = store.create_app("web")
        assert created.name == "web"
        assert created.created_at.tzinfo is not None
        assert created.web_scale == 1
        assert created.current_release is None
        assert store.get_app("web") == created
        store.create_app("api-2")
        assert [app.name for app in store.list_apps()] == ["api-2", "web"]
        store.delete_app("web")
        assert [app.name for app in store.list_apps()] == ["api-2"]

    def test_created_at_is_utc(self, store: SqlStore) -> None:
        store.create_app("web")
        assert store.get_app("web").created_at.utcoffset() == timedelta(0)

    def test_duplicate_app_conflicts(self, store: SqlStore) -> None:
        store.create_app("web")
        with pytest.raises(Conflict, match="app 'web' already exists"):
            store.create_app("web")

    @pytest.mark.parametrize(
        "call",
        [
            pytest.param(lambda s: s.get_app("ghost"), id="get_app"),
            pytest.param(lambda s: s.delete_app("ghost"), id="delete_app"),
            pytest.param(lambda s: s.set_web_scale("ghost", 2), id="set_web_scale"),
            pytest.param(lambda s: s.set_current_release("ghost", 1), id="set_current_release"),
            pytest.param(lambda s: s.add_domain("ghost", "ghost.example.com"), id="add_domain"),
            pytest.param(lambda s: s.get_config("ghost"), id="get_config"),
            pytest.param(lambda s: s.update_config("ghost", set_={"A": "1"}, unset=[]), id="update_config"),
            pytest.param(lambda s: s.list_releases("ghost"), id="list_releases"),
            pytest.param(lambda s: s.next_release_number("ghost"), id="next_release_number"),
            pytest.param(lambda s: s.list_deploys("ghost"), id="list_deploys"),
            pytest.param(lambda s: create_deploy(s, make_deploy("ghost", "deadbeef")), id="create_deploy"),
        ],
    )
    def test_missing_app_is_not_found(self, store: SqlStore, call: object) -> None:
        with pytest.raises(NotFound, match="app 'ghost' not found"):
            call(store)  # type: ignore[operator]

    def test_scale_and_current_release(self, store: SqlStore) -> None:
        store.create_app("web")
        store.set_web_scale("web", 3)
        store.set_current_release("web", 7)
        app = store.get_app("web")
        assert (app.web_scale, app.current_release) == (3, 7)
        store.set_current_release("web", None)
        assert store.get_app("web").current_release is None


class TestDomains:
    def test_add_and_remove(self, store: SqlStore) -> None:
        store.create_app("web")
        store.add_domain("web", "b.example.com")
        store.add_domain("web", "a.example.com")
        assert store.get_app("web").domains == ("a.example.com", "b.example.com")
        store.remove_domain("web", "a.example.com")
        assert store.get_app("web").domains == ("b.example.com",)

    def test_domain_is_unique_across_apps(self, store: SqlStore) -> None:
        store.create_app("web")
        store.create_app("other")
        store.add_domain("web", "shop.example.com")
        with pytest.raises(Conflict, match="already used by app 'web'"):
            store.add_domain("other", "shop.example.com")
        with pytest.raises(Conflict, match="already used by app 'web'"):
            store.add_domain("web", "shop.example.com")
        assert store.get_app("other").domains == ()

    def test_removing_a_domain_the_app_lacks_is_not_found(self, store: SqlStore) -> None:
        store.create_app("web")
        store.create_app("other")
        store.add_domain("other", "other.example.com")
        with pytest.raises(NotFound, match="has no domain"):
            store.remove_domain("web", "other.example.com")
        assert store.get_app("other").domains == ("other.example.com",)


class TestConfig:
    def test_round_trip_set_and_unset(self, store: SqlStore) -> None:
        store.create_app("web")
        assert store.get_config("web") == {}
        assert store.update_config("web", set_={"A": "1", "B": "two words"}, unset=[]) == {
            "A": "1",
            "B": "two words",
        }
        new = store.update_config("web", set_={"A": "changed", "C": "ü=\n"}, unset=["B", "MISSING"])
        assert new == {"A": "changed", "C": "ü=\n"}
        assert store.get_config("web") == new

    def test_values_are_encrypted_at_rest(self, store: SqlStore, database_url: str) -> None:
        store.create_app("web")
        store.update_config("web", set_={"DATABASE_PASSWORD": "hunter2-plaintext"}, unset=[])
        store.add_release(make_release("web", 1, config={"DATABASE_PASSWORD": "hunter2-plaintext"}))
        stored = raw_values(database_url, config_vars.c.value) + raw_values(database_url, releases.c.config)
        assert len(stored) == 2
        assert all("hunter2" not in value for value in stored)

    def test_configs_are_per_app(self, store: SqlStore) -> None:
        store.create_app("web")
        store.create_app("other")
        store.update_config("web", set_={"A": "1"}, unset=[])
        assert store.get_config("other") == {}


class TestReleases:
    def test_numbering_order_and_round_trip(self, store: SqlStore) -> None:
        store.create_app("web")
        assert store.next_release_number("web") == 1
        checks = (
            HealthCheck(path="/healthz", attempts=3, timeout=1.5, wait=0.5, initial_delay=2.0, name="ready"),
            HealthCheck(),
        )
        first = make_release("web", 1, healthchecks=checks, config={"A": "1", "B": "x y"})
        store.add_release(first)
        store.add_release(make_release("web", 2))
        assert store.next_release_number("web") == 3
        assert store.get_release("web", 1) == first
        assert [r.number for r in store.list_releases("web")] == [2, 1]

    def test_duplicate_number_conflicts(self, store: SqlStore) -> None:
        store.create_app("web")
        store.add_release(make_release("web", 1))
        with pytest.raises(Conflict, match="release 1 of app 'web' already exists"):
            store.add_release(make_release("web", 1))

    def test_missing_release_is_not_found(self, store: SqlStore) -> None:
        store.create_app("web")
        with pytest.raises(NotFound, match="release 4 of app 'web' not found"):
            store.get_release("web", 4)

    def test_created_at_in_another_zone_comes_back_as_utc(self, store: SqlStore) -> None:
        store.create_app("web")
        local = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
        store.add_release(make_release("web", 1, created_at=local))
        created_at = store.get_release("web", 1).created_at
        assert created_at == local
        assert created_at.tzinfo == UTC

    @pytest.mark.parametrize(
        "stored",
        ["2024-05-01 12:00:00.000250", "2024-05-01 12:00:00", "2024-05-01", "2024-05-01 14:00:00+02:00"],
    )
    def test_sqlite_text_reads_as_the_generic_path_does(self, stored: str) -> None:
        dialect = sqlite.dialect()
        column_type = UtcDateTime().dialect_impl(dialect)  # as a query's result uses it
        assert isinstance(column_type, UtcDateTime)
        fast = column_type.result_processor(dialect, None)
        generic = TypeDecorator[datetime].result_processor(column_type, dialect, None)
        assert fast is not None and generic is not None
        moment = fast(stored)
        assert moment == generic(stored)
        assert moment is not None and moment.tzinfo == UTC
        assert fast(None) is None

    def test_naive_datetime_is_refused(self, store: SqlStore) -> None:
        store.create_app("web")
        with pytest.raises(Exception, match="naive datetime"):
            store.add_release(make_release("web", 1, created_at=datetime(2024, 5, 1)))


class TestDeploys:
    def test_lifecycle_timestamps(self, store: SqlStore) -> None:
        store.create_app("web")
        create_deploy(store, make_deploy("web", "0123abcd"))
        queued = store.get_deploy("0123abcd")
        assert (queued.status, queued.started_at, queued.finished_at) == (DeployStatus.QUEUED, None, None)
        assert queued.kind is DeployKind.BUILD

        running = store.update_deploy("0123abcd", status=DeployStatus.RUNNING)
        assert running.started_at is not None
        assert running.started_at.tzinfo == UTC
        assert running.finished_at is None

        done = store.update_deploy("0123abcd", status=DeployStatus.SUCCEEDED, release_number=1)
        assert done.status is DeployStatus.SUCCEEDED
        assert done.started_at == running.started_at
        assert done.finished_at is not None
        assert done.finished_at >= done.started_at
        assert done.release_number == 1
        assert store.get_deploy("0123abcd") == done

    def test_failure_records_error(self, store: SqlStore) -> None:
        store.create_app("web")
        create_deploy(store, make_deploy("web", "0123abcd"))
        failed = store.update_deploy("0123abcd", status=DeployStatus.FAILED, error="build failed: exit 1")
        assert failed.error == "build failed: exit 1"
        assert failed.finished_at is not None
        assert failed.started_at is None

    def test_unknown_deploy_is_not_found(self, store: SqlStore) -> None:
        with pytest.raises(NotFound, match="deploy 'ffffffff' not found"):
            store.get_deploy("ffffffff")
        with pytest.raises(NotFound, match="deploy 'ffffffff' not found"):
            store.update_deploy("ffffffff", status=DeployStatus.RUNNING)

    def test_duplicate_id_conflicts(self, store: SqlStore) -> None:
        store.create_app("web")
        create_deploy(store, make_deploy("web", "0123abcd"))
        with pytest.raises(Conflict):
            create_deploy(store, make_deploy("web", "0123abcd"))

    def test_listing_newest_first_with_filter_and_limit(self, store: SqlStore) -> None:
        store.create_app("web")
        store.create_app("other")
        for minutes, deploy_id in enumerate(["aaaa0001", "aaaa0002", "aaaa0003"]):
            create_deploy(store, make_deploy("web", deploy_id, minutes))
        create_deploy(store, make_deploy("other", "bbbb0001", 10))
        assert [d.id for d in store.list_deploys()] == ["bbbb0001", "aaaa0003", "aaaa0002", "aaaa0001"]
        assert [d.id for d in store.list_deploys("web", limit=2)] == ["aaaa0003", "aaaa0002"]

    def test_unfinished_deploys(self, store: SqlStore) -> None:
        store.create_app("web")
        for minutes, deploy_id in enumerate(["aaaa0001", "aaaa0002", "aaaa0003"]):
            create_deploy(store, make_deploy("web", deploy_id, minutes))
        store.update_deploy("aaaa0001", status=DeployStatus.RUNNING)
        store.update_deploy("aaaa0002", status=DeployStatus.CANCELLED)
        assert [d.id for d in store.unfinished_deploys()] == ["aaaa0001", "aaaa0003"]


def test_delete_app_removes_everything_it_owns(store: SqlStore) -> None:
    for name in ("web", "other"):
        store.create_app(name)
        store.add_domain(name, f"{name}.example.com")
        store.update_config(name, set_={"A": "1"}, unset=[])
        store.add_release(make_release(name, 1))
        create_deploy(store, make_deploy(name, f"{name.encode().hex():0>8}"))
    store.delete_app("web")

    with pytest.raises(NotFound):
        store.get_app("web")
    store.create_app("web")
    assert store.get_app("web").domains == ()
    assert store.get_config("web") == {}
    assert store.list_releases("web") == []
    assert store.list_deploys("web") == []
    store.add_domain("web", "web.example.com")
    assert store.get_app("other").domains == ("other.example.com",)
    assert len(store.list_deploys("other")) == 1


def test_concurrent_use_from_eight_threads(store: SqlStore) -> None:
    store.create_app("shared")
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        try:
            start.wait()
            app = f"app-{worker}"
            store.create_app(app)
            for step in range(15):
                store.update_config("shared", set_={f"W{worker}": str(step)}, unset=[f"GONE{worker}"])
                store.add_domain(app, f"d{step}.{app}.example.com")
                create_deploy(store, make_deploy(app, f"{worker:04x}{step:04x}", step))
                store.update_deploy(f"{worker:04x}{step:04x}", status=DeployStatus.RUNNING)
                store.list_apps()
                store.get_config("shared")
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.get_config("shared") == {f"W{n}": "14" for n in range(8)}
    assert len(store.list_apps()) == 9
    assert len(store.list_deploys(limit=1000)) == 8 * 15


def test_queued_apps_and_each_apps_queued_deploys_oldest_first(store: SqlStore) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for app in ("a", "b"):
        store.create_app(app)
    for index, (app, status) in enumerate(
        [
            ("a", DeployStatus.SUCCEEDED),
            ("a", DeployStatus.QUEUED),
            ("b", DeployStatus.QUEUED),
            ("a", DeployStatus.QUEUED),
        ]
    ):
        create_deploy(
            store,
            Deploy(
                id=f"{index:016x}",
                app=app,
                kind=DeployKind.BUILD,
                status=status,
                created_at=base + timedelta(seconds=index),
            ),
        )
    assert store.queued_apps() == {"a": base + timedelta(seconds=1), "b": base + timedelta(seconds=2)}
    assert [d.id for d in store.queued_deploys(app="a")] == [f"{1:016x}", f"{3:016x}"]
    assert [d.id for d in store.queued_deploys(1, app="a")] == [f"{1:016x}"]
    assert store.queued_deploys(app="nobody") == []


def test_last_deploys_gives_each_apps_newest_in_one_read(store: SqlStore) -> None:
    for app in ("a", "b", "idle"):
        store.create_app(app)
    for deploy_id, app, minutes in [("a1", "a", 0), ("a2", "a", 5), ("b1", "b", 3), ("b0", "b", 1)]:
        create_deploy(store, make_deploy(app, deploy_id, minutes))

    last = store.last_deploys()

    assert {app: deploy.id for app, deploy in last.items()} == {"a": "a2", "b": "b1"}
    assert last["a"].created_at == T0 + timedelta(minutes=5)


def test_a_batch_of_deploys_is_stored_with_an_outcome_each(store: SqlStore) -> None:
    store.create_app("web")
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def queued(deploy_id: str, app: str = "web") -> Deploy:
        return Deploy(deploy_id, app, DeployKind.CONFIG, DeployStatus.QUEUED, created_at=at)

    create_deploy(store, queued("dddd0001"))
    outcomes = store.create_deploys(
        [
            (queued("dddd0002"), {"set": {"A": "1"}}),
            (queued("dddd0003", app="nope"), {}),
            (queued("dddd0001"), {}),  # taken: the batch is stored row by row instead
            (queued("dddd0004"), {}),
        ]
    )

    assert [type(o) for o in outcomes] == [type(None), NotFound, Conflict, type(None)]
    assert [d.id for d in store.queued_deploys(app="web")] == ["dddd0001", "dddd0002", "dddd0004"]
    assert store.get_deploy_params("dddd0002") == {"set": {"A": "1"}}


def test_the_audit_events_of_a_batch_are_stored_with_their_deploys_only(store: SqlStore) -> None:
    store.create_app("web")
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def queued(deploy_id: str, app: str = "web") -> Deploy:
        return Deploy(deploy_id, app, DeployKind.CONFIG, DeployStatus.QUEUED, created_at=at)

    def event(app: str) -> AuditEvent:
        return AuditEvent(at, "dave", "update_config", app, "ok", "127.0.0.1", f"PATCH {app} -> 202")

    create_deploy(store, queued("eeee0001"))
    batches: list[list[tuple[Deploy, dict[str, object]]]] = [
        [(queued("eeee0002"), {}), (queued("eeee0003", app="nope"), {})],
        [(queued("eeee0001"), {}), (queued("eeee0004"), {})],  # one taken: stored row by row
    ]
    audits: list[list[AuditEvent | None]] = [[event("web"), event("nope")], [event("taken"), None]]
    for items, events in zip(batches, audits, strict=True):
        store.create_deploys(items, audits=events)

    stored = store.query_audit(AuditQuery())
    assert [(e.actor, e.action, e.app, e.outcome, e.source, e.detail) for e in stored] == [
        ("dave", "update_config", "web", "ok", "127.0.0.1", "PATCH web -> 202")
    ]


def test_claim_next_takes_the_apps_oldest_queued_deploy_with_its_params(store: SqlStore) -> None:
    store.create_app("web")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for index, kind in enumerate([DeployKind.BUILD, DeployKind.CONFIG]):
        deploy = Deploy(f"eeee000{index}", "web", kind, DeployStatus.QUEUED, at + timedelta(seconds=index))
        create_deploy(store, deploy, {"n": index})

    assert store.claim_next("web", builds=False) is None  # the oldest is a build: it waits
    claimed = store.claim_next("web")
    assert claimed is not None
    deploy, params = claimed
    assert (deploy.id, deploy.status, params) == ("eeee0000", DeployStatus.RUNNING, {"n": 0})
    assert deploy.started_at is not None
    assert store.get_deploy("eeee0000").status is DeployStatus.RUNNING
    second = store.claim_next("web", builds=False)
    assert second is not None and second[0].id == "eeee0001"
    assert store.claim_next("web") is None and store.claim_next("nobody") is None


def test_claim_deploys_moves_only_the_queued_ones_in_one_go(store: SqlStore) -> None:
    store.create_app("web")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for deploy_id in ("eeee0001", "eeee0002", "eeee0003"):
        create_deploy(store, Deploy(deploy_id, "web", DeployKind.BUILD, DeployStatus.QUEUED, created_at=at))
    assert store.claim_deploy("eeee0002")  # running now: not to be superseded
    claimed = store.claim_deploys(
        ["eeee0001", "eeee0002", "eeee0003", "nope"], DeployStatus.SUPERSEDED, error="superseded by x"
    )
    assert sorted(claimed) == ["eeee0001", "eeee0003"]
    first = store.get_deploy("eeee0001")
    assert (first.status, first.error, first.finished_at is not None) == (
        DeployStatus.SUPERSEDED,
        "superseded by x",
        True,
    )
    assert store.get_deploy("eeee0002").status is DeployStatus.RUNNING
    assert store.claim_deploys([], DeployStatus.SUPERSEDED) == []
