"""The deploy pipeline over fakes: supersede, cancel at each step, rollback, config and scale
undo, interrupted-job recovery, and the kind handler table."""

import io
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from controller.domain.errors import InvalidInput, RuntimeUnavailable
from controller.domain.models import Deploy, DeployKind, DeployStatus
from controller.services.deploys import new_queued
from controller.services.queue import JobContext
from tests.api.conftest import tar_of
from tests.services.deploy_bed import WAIT, DeployBed, deploy_bed, migrated_template


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("deploys-db"))


@pytest.fixture
def bed(tmp_path: Path, template: Path) -> Iterator[DeployBed]:
    yield from deploy_bed(tmp_path, template)


@pytest.fixture
def idle_bed(tmp_path: Path, template: Path) -> Iterator[DeployBed]:
    """Not started: queued jobs stay queued."""
    yield from deploy_bed(tmp_path, template, start=False)


def with_release(bed: DeployBed, app: str = "web") -> Deploy:
    bed.store.create_app(app)
    return bed.deployed(app)


# -- a deploy and its steps ---------------------------------------------------------------


def test_a_build_is_released_started_switched_and_its_predecessor_retired(bed: DeployBed) -> None:
    first = with_release(bed)
    old = bed.serving("web")
    second = bed.deployed("web", {"Dockerfile": "FROM scratch\n", "app.json": "{}"})
    assert (first.release_number, second.release_number) == (1, 2)
    assert bed.store.get_app("web").current_release == 2
    assert bed.serving("web").isdisjoint(old) and len(bed.serving("web")) == 1
    assert {c.id for c in bed.runtime.list_containers("web")} == bed.serving("web")
    log = bed.log(second)
    for step in ("Building image", "Health-checking", "Switching traffic", "v2 is live", "Retiring 1 old"):
        assert step in log
    assert not (bed.builds_dir / first.id).exists()  # the app's next job runs after its cleanup


def test_a_failed_health_check_leaves_the_serving_release_alone(bed: DeployBed) -> None:
    with_release(bed)
    serving = bed.serving("web")
    bed.fail_health_checks(refuse=True)
    failed = bed.finished(bed.build("web"))
    assert failed.status is DeployStatus.FAILED and "failed its health check" in (failed.error or "")
    assert "port 8080 came from the image" in (failed.error or "")
    assert "listens on 0.0.0.0:8080" in (failed.error or "")
    assert bed.serving("web") == serving == {c.id for c in bed.runtime.list_containers("web")}
    assert bed.store.get_app("web").current_release == 1


# -- supersede ----------------------------------------------------------------------------


def test_only_the_newest_queued_build_or_rollback_runs(idle_bed: DeployBed) -> None:
    idle_bed.store.create_app("web")
    older, middle, newest = (idle_bed.build("web") for _ in range(3))
    assert idle_bed.store.get_deploy(newest.id).status is DeployStatus.QUEUED
    for superseded, by in ((older, middle), (middle, newest)):
        stored = idle_bed.store.get_deploy(superseded.id)
        assert stored.status is DeployStatus.SUPERSEDED
        assert stored.error == f"superseded by deploy {by.id}"
        assert not (idle_bed.builds_dir / superseded.id).exists()
    assert (idle_bed.builds_dir / newest.id).is_dir()


def test_a_rollback_supersedes_a_queued_build(idle_bed: DeployBed) -> None:
    idle_bed.store.create_app("web")
    build = idle_bed.build("web")
    rollback = new_queued("web", DeployKind.ROLLBACK, "rollback to v1")
    idle_bed.deploys._intake.submit(rollback, {"to": 1}).result()
    assert idle_bed.store.get_deploy(build.id).status is DeployStatus.SUPERSEDED
    assert idle_bed.store.get_deploy(rollback.id).status is DeployStatus.QUEUED


def test_other_kinds_are_not_superseded(idle_bed: DeployBed) -> None:
    idle_bed.store.create_app("web")
    scales = [idle_bed.deploys.request_scale("web", web=n) for n in (2, 3)]
    idle_bed.build("web")
    assert [idle_bed.store.get_deploy(d.id).status for d in scales] == [DeployStatus.QUEUED] * 2


# -- cancel -------------------------------------------------------------------------------


def test_a_queued_deploy_is_cancelled_at_once_with_its_context(idle_bed: DeployBed) -> None:
    idle_bed.store.create_app("web")
    queued = idle_bed.build("web")
    cancelled = idle_bed.deploys.cancel(queued.id)
    assert cancelled.status is DeployStatus.CANCELLED
    assert not (idle_bed.builds_dir / queued.id).exists()
    assert "cancelled before it started" in idle_bed.log(queued)


@pytest.mark.parametrize(
    ("step", "prober"),
    [("build", False), ("run", False), ("health", True)],
    ids=["during-build", "after-start", "during-health-check"],
)
def test_a_cancel_before_the_switch_leaves_the_old_release_serving(
    bed: DeployBed, step: str, prober: bool
) -> None:
    with_release(bed)
    serving = bed.serving("web")
    hooks = bed.prober.hooks if prober else bed.runtime.hooks
    hooks[step] = bed.cancel_running("web")
    cancelled = bed.finished(bed.build("web"))
    assert cancelled.status is DeployStatus.CANCELLED, cancelled.error
    assert bed.serving("web") == serving == {c.id for c in bed.runtime.list_containers("web")}
    assert bed.store.get_app("web").current_release == 1
    assert [r.number for r in bed.store.list_releases("web")] == [1]


def test_a_cancel_between_restart_steps_keeps_what_was_replaced(bed: DeployBed) -> None:
    bed.store.create_app("web")
    bed.store.set_web_scale("web", 2)
    bed.deployed("web")
    bed.runtime.hooks["run"] = bed.cancel_running("web")  # the first replacement starts, then cancel
    cancelled = bed.finished(bed.deploys.request_restart("web"))
    assert cancelled.status is DeployStatus.CANCELLED
    assert len(bed.serving("web")) == 2 == len(bed.runtime.list_containers("web"))


def test_a_finished_deploy_cannot_be_cancelled(bed: DeployBed) -> None:
    done = with_release(bed)
    with pytest.raises(Exception, match="succeeded"):
        bed.deploys.cancel(done.id)


# -- rollback -----------------------------------------------------------------------------


def test_rollback_serves_the_old_image_with_its_config(bed: DeployBed) -> None:
    with_release(bed)
    assert bed.finished(bed.deploys.submit_config_change("web", set_={"MODE": "new"}, unset=[]).result())
    v1_image = bed.store.get_release("web", 1).image_id
    rollback = bed.finished(bed.deploys.request_rollback("web"))
    assert rollback.status is DeployStatus.SUCCEEDED and rollback.kind is DeployKind.ROLLBACK
    assert bed.store.get_app("web").current_release == 1
    assert bed.store.get_config("web") == {}
    (container,) = bed.runtime.list_containers("web")
    assert container.release == 1 and bed.store.get_release("web", 1).image_id == v1_image


def test_rollback_needs_an_older_release_whose_image_is_still_there(bed: DeployBed) -> None:
    bed.store.create_app("web")
    with pytest.raises(InvalidInput, match="no release to roll back"):
        bed.deploys.request_rollback("web")
    bed.deployed("web")
    with pytest.raises(InvalidInput, match="no release older"):
        bed.deploys.request_rollback("web")
    bed.deployed("web")
    bed.runtime.images["web"].discard(bed.store.get_release("web", 1).image_id)
    with pytest.raises(InvalidInput, match="was pruned"):
        bed.deploys.request_rollback("web", to=1)


# -- config and scale undo ----------------------------------------------------------------


def test_a_config_change_that_fails_to_roll_out_is_undone(bed: DeployBed) -> None:
    with_release(bed)
    bed.finished(bed.deploys.submit_config_change("web", set_={"KEEP": "1"}, unset=[]).result())
    serving = bed.serving("web")
    bed.fail_health_checks()
    change = bed.deploys.submit_config_change("web", set_={"NEW": "x"}, unset=["KEEP"]).result()
    failed = bed.finished(change)
    assert failed.status is DeployStatus.FAILED
    assert bed.store.get_config("web") == {"KEEP": "1"}
    assert bed.serving("web") == serving and bed.store.get_app("web").current_release == 2
    assert "config change undone" in bed.log(failed)


def test_a_config_change_without_a_release_is_saved_for_the_first_deploy(bed: DeployBed) -> None:
    bed.store.create_app("web")
    saved = bed.finished(bed.deploys.submit_config_change("web", set_={"A": "1"}, unset=["B"]).result())
    assert saved.status is DeployStatus.SUCCEEDED and bed.store.get_config("web") == {"A": "1"}
    assert "nothing to unset: B" in bed.log(saved) and "applies from the first deploy" in bed.log(saved)
    same = bed.finished(bed.deploys.submit_config_change("web", set_={"A": "1"}, unset=[]).result())
    assert "Nothing changed" in bed.log(same)


def test_a_scale_that_fails_is_undone(bed: DeployBed) -> None:
    with_release(bed)
    serving = bed.serving("web")
    bed.fail_health_checks()
    failed = bed.finished(bed.deploys.request_scale("web", web=3))
    assert failed.status is DeployStatus.FAILED
    assert bed.store.get_app("web").web_scale == 1
    assert bed.serving("web") == serving == {c.id for c in bed.runtime.list_containers("web")}


def test_scaling_up_and_down(bed: DeployBed) -> None:
    with_release(bed)
    assert bed.finished(bed.deploys.request_scale("web", web=3)).status is DeployStatus.SUCCEEDED
    assert len(bed.serving("web")) == 3
    assert bed.finished(bed.deploys.request_scale("web", web=1)).status is DeployStatus.SUCCEEDED
    assert len(bed.serving("web")) == 1 == len(bed.runtime.list_containers("web"))


def test_restart_and_repair_replace_containers(bed: DeployBed) -> None:
    with_release(bed)
    (before,) = bed.serving("web")
    assert bed.finished(bed.deploys.request_restart("web")).status is DeployStatus.SUCCEEDED
    (restarted,) = bed.serving("web")
    assert restarted != before
    bed.runtime.containers.pop(restarted)  # it died
    assert bed.finished(bed.deploys.request_repair("web", "died")).status is DeployStatus.SUCCEEDED
    (repaired,) = bed.serving("web")
    assert repaired != restarted


# -- interrupted jobs ---------------------------------------------------------------------


def interrupted(bed: DeployBed, kind: DeployKind, *, attempt: int = 1) -> Deploy:
    """A deploy a dead controller left running (and, for a build, its context on disk)."""
    deploy = new_queued("web", kind, "left running", attempt=attempt)
    params = {"digest": "abc"} if kind is DeployKind.BUILD else {"web": 2}
    assert bed.store.create_deploys([(deploy, params)]) == [None]
    assert bed.store.claim_deploy(deploy.id)
    if kind is DeployKind.BUILD:
        bed.contexts.create(deploy.id).joinpath("Dockerfile").write_text("FROM scratch\n")
    return deploy


def test_an_interrupted_build_is_queued_again_once_with_its_context(idle_bed: DeployBed) -> None:
    idle_bed.store.create_app("web")
    left = interrupted(idle_bed, DeployKind.BUILD)
    (idle_bed.builds_dir / "stray").mkdir()
    idle_bed.deploys.start()
    stored = idle_bed.store.get_deploy(left.id)
    assert stored.status is DeployStatus.INTERRUPTED and stored.error == "the controller stopped"
    (retry,) = [d for d in idle_bed.store.list_deploys("web") if d.id != left.id]
    assert retry.attempt == 2 and f"queued again as deploy {retry.id}" in idle_bed.log(left)
    assert idle_bed.finished(retry).status is DeployStatus.SUCCEEDED
    assert not (idle_bed.builds_dir / "stray").exists() and not (idle_bed.builds_dir / left.id).exists()


def test_a_job_interrupted_twice_is_not_queued_again(idle_bed: DeployBed) -> None:
    idle_bed.store.create_app("web")
    left = interrupted(idle_bed, DeployKind.BUILD, attempt=2)
    idle_bed.deploys.start()
    assert idle_bed.store.get_deploy(left.id).status is DeployStatus.INTERRUPTED
    assert [d.id for d in idle_bed.store.list_deploys("web")] == [left.id]
    assert not (idle_bed.builds_dir / left.id).exists()


def test_an_interrupted_scale_is_queued_again(idle_bed: DeployBed) -> None:
    idle_bed.store.create_app("web")
    left = interrupted(idle_bed, DeployKind.SCALE)
    idle_bed.deploys.start()
    (retry,) = [d for d in idle_bed.store.list_deploys("web") if d.id != left.id]
    assert retry.kind is DeployKind.SCALE and idle_bed.finished(retry).status is DeployStatus.SUCCEEDED
    assert idle_bed.store.get_app("web").web_scale == 2


def test_a_queued_job_survives_a_restart_and_runs(idle_bed: DeployBed) -> None:
    idle_bed.store.create_app("web")
    queued = idle_bed.deploys.request_scale("web", web=2)
    idle_bed.deploys.start()
    assert idle_bed.finished(queued).status is DeployStatus.SUCCEEDED


# -- the kind handler table ---------------------------------------------------------------


def test_other_services_run_their_kinds_of_job_in_the_queue(bed: DeployBed) -> None:
    bed.store.create_app("web")
    seen: list[JobContext] = []
    with pytest.raises(InvalidInput, match="no handler"):
        bed.deploys.request_job("web", DeployKind.CERTIFICATE, {}, "issue")
    bed.deploys.handle(DeployKind.CERTIFICATE, seen.append)
    job = bed.deploys.request_job("web", DeployKind.CERTIFICATE, {"domains": ["a.example"]}, "issue")
    assert bed.finished(job).status is DeployStatus.SUCCEEDED
    assert [(c.job.id, c.params) for c in seen] == [(job.id, {"domains": ["a.example"]})]


def test_a_failing_handler_fails_its_job_with_the_reason(bed: DeployBed) -> None:
    bed.store.create_app("web")

    def refuse(ctx: JobContext) -> None:
        raise InvalidInput("the CA said no")

    bed.deploys.handle(DeployKind.CERTIFICATE, refuse)
    failed = bed.finished(bed.deploys.request_job("web", DeployKind.CERTIFICATE, {}, "issue"))
    assert failed.status is DeployStatus.FAILED and failed.error == "the CA said no"


def test_an_upload_without_a_dockerfile_is_refused_and_leaves_nothing(bed: DeployBed) -> None:
    bed.store.create_app("web")
    with pytest.raises(InvalidInput, match="no Dockerfile"):
        bed.deploys.request_archive_build(
            "web", archive=io.BytesIO(tar_of({"README": b"hi"})), max_bytes=1024
        )
    assert list(bed.builds_dir.iterdir()) == [] and bed.store.list_deploys("web") == []


# -- how a job ends -----------------------------------------------------------------------


@pytest.fixture
def patient_bed(tmp_path: Path, template: Path) -> Iterator[DeployBed]:
    """Docker outages are retried at once; a job may run for no time at all before it is cancelled."""
    yield from deploy_bed(tmp_path, template, docker_retries=2, docker_retry_delay=0.0, job_timeout=0.0)


def raise_(exc: Exception) -> Callable[[], None]:
    def hook() -> None:
        raise exc

    return hook


def test_a_brief_docker_outage_is_retried(patient_bed: DeployBed) -> None:
    patient_bed.store.create_app("web")
    patient_bed.runtime.hooks["run"] = raise_(RuntimeUnavailable("Docker is not reachable (fake)"))
    patient_bed.deploys._runner._settings = replace(patient_bed.deploys._runner._settings, job_timeout=WAIT)
    deploy = patient_bed.deployed("web")
    assert "Docker is not reachable (fake); trying again in 0 s" in patient_bed.log(deploy)


def test_an_unexpected_error_fails_the_job_as_internal(bed: DeployBed) -> None:
    with_release(bed)
    bed.runtime.hooks["build"] = raise_(RuntimeError("boom"))
    failed = bed.finished(bed.build("web"))
    assert failed.status is DeployStatus.FAILED and failed.error == "internal error: RuntimeError('boom')"
    assert bed.store.get_app("web").current_release == 1


def test_a_job_that_runs_out_of_time_is_cancelled(patient_bed: DeployBed) -> None:
    patient_bed.store.create_app("web")

    def wait_for_the_timeout() -> None:
        cancel = patient_bed.deploys._runner._cancels[patient_bed.running_id("web")]
        assert cancel.wait(WAIT)

    patient_bed.runtime.hooks["build"] = wait_for_the_timeout
    cancelled = patient_bed.finished(patient_bed.build("web"))
    assert cancelled.status is DeployStatus.CANCELLED and cancelled.error == "the deploy was cancelled"
    assert patient_bed.runtime.list_containers("web") == []


def test_a_delivery_of_the_commit_being_built_is_answered_by_that_build(
    idle_bed: DeployBed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook delivered again (a new delivery id) while its commit builds makes no second build."""
    idle_bed.store.create_app("web")
    source = {"commit": "a" * 40, "branch": "main"}
    building = idle_bed.deploys.request_fetched_build("web", source=source, description="push")
    claimed = idle_bed.store.claim_next("web")
    assert claimed is not None and claimed[0].id == building.id
    monkeypatch.setattr(idle_bed.deploys._intake._dispatcher, "running", lambda: {"web": building.id})

    again = idle_bed.deploys.request_fetched_build("web", source=dict(source), description="push again")
    stored = idle_bed.store.get_deploy(again.id)
    assert stored.status is DeployStatus.SUPERSEDED
    assert stored.error == f"deploy {building.id} is building the same commit"
    # Another commit, or the head of the branch (a redeploy), builds after it as usual.
    newer = idle_bed.deploys.request_fetched_build(
        "web", source={**source, "commit": "b" * 40}, description="b"
    )
    head = idle_bed.deploys.request_fetched_build("web", source={"branch": "main"}, description="redeploy")
    assert idle_bed.store.get_deploy(newer.id).status is DeployStatus.SUPERSEDED  # by the redeploy
    assert idle_bed.store.get_deploy(head.id).status is DeployStatus.QUEUED
