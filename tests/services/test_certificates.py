"""The certificate service with a fake CA, store and proxy: ordering, fallbacks, installs, the queue."""

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from controller.domain.certificates import (
    AcmeNotConfigured,
    AttemptsExhausted,
    CertificateError,
    CertificateInfo,
    CertificateState,
    ChallengeFailed,
    ChallengeFailure,
    IssuedCertificate,
    RenewalPolicy,
)
from controller.domain.errors import DockyardError, NotFound, ProxyConfigRejected
from controller.domain.models import App, Deploy, DeployKind, DeployStatus, Site, SiteTls
from controller.services.certificates import CertificateService, site_tls_lookup
from controller.services.events import EventBus
from controller.services.queue import JobContext, JobHandler
from controller.services.routing import Routing

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GOOD, OTHER, BROKEN = "web.example.com", "www.example.com", "broken.example.com"


class Apps:
    """The part of the Store the service reads."""

    def __init__(self, **apps: Sequence[str]) -> None:
        self.apps = {
            name: App(name=name, created_at=NOW, domains=tuple(domains)) for name, domains in apps.items()
        }

    def get_app(self, name: str) -> App:
        if name not in self.apps:
            raise NotFound(name)
        return self.apps[name]

    def list_apps(self) -> list[App]:
        return list(self.apps.values())


class MemoryCerts:
    """A CertificateStore in memory."""

    def __init__(self) -> None:
        self.states: dict[str, CertificateState] = {}
        self.files: dict[str, tuple[bytes, bytes]] = {}
        self.log: dict[str, list[str]] = {}

    def paths(self, app: str) -> tuple[str, str]:
        return f"/certs/{app}/fullchain.pem", f"/certs/{app}/privkey.pem"

    def load(self, app: str) -> CertificateState:
        return self.states.get(app, CertificateState(app=app))

    def save(self, state: CertificateState) -> None:
        self.states[state.app] = state

    def install(self, app: str, fullchain_pem: bytes, key_pem: bytes) -> Callable[[], None]:
        previous = self.files.get(app)
        self.files[app] = (fullchain_pem, key_pem)

        def undo() -> None:
            if previous is None:
                self.files.pop(app, None)
            else:
                self.files[app] = previous

        return undo

    def remove(self, app: str) -> None:
        self.states.pop(app, None)
        self.files.pop(app, None)

    def append_log(self, app: str, line: str) -> None:
        self.log.setdefault(app, []).append(line)

    def read_log(self, app: str, tail: int) -> list[str]:
        return self.log.get(app, [])[-tail:]


class FakeCA:
    """Issues at once; domains in `failing` fail their challenge; `error` fails every order."""

    def __init__(self) -> None:
        self.orders: list[tuple[str, ...]] = []
        self.failing: dict[str, str] = {}
        self.error: CertificateError | None = None

    def issue(self, domains: Sequence[str], *, log: Callable[[str], None]) -> IssuedCertificate:
        names = tuple(domains)
        self.orders.append(names)
        if self.error:
            raise self.error
        failures = [ChallengeFailure(d, "connection", self.failing[d]) for d in names if d in self.failing]
        if failures:
            raise ChallengeFailed(failures)
        serial = f"{len(self.orders):x}"
        return IssuedCertificate(
            f"chain-{serial}".encode(), b"key", names, serial, NOW, NOW + timedelta(days=90)
        )


class FakeJobs:
    """The job queue: one worker thread runs the jobs in order; failures end them `failed`."""

    def __init__(self) -> None:
        self.handlers: dict[DeployKind, JobHandler] = {}
        self.jobs: dict[str, Deploy] = {}
        self.params: dict[str, dict[str, Any]] = {}
        self.log: dict[str, list[str]] = {}
        self.done: dict[str, threading.Event] = {}
        self.pending: queue.Queue[str] = queue.Queue()
        self.go = threading.Event()  # cleared: jobs stay queued
        self.go.set()
        threading.Thread(target=self._work, daemon=True).start()

    def handle(self, kind: DeployKind, handler: JobHandler) -> None:
        self.handlers[kind] = handler

    def request_job(
        self, app: str, kind: DeployKind, params: dict[str, Any], description: str, *, coalesce: bool = False
    ) -> Deploy:
        if coalesce:
            for job in self.jobs.values():
                if job.app == app and job.kind is kind and job.status is DeployStatus.QUEUED:
                    return job
        job_id = f"job-{len(self.jobs) + 1}"
        job = Deploy(job_id, app, kind, DeployStatus.QUEUED, NOW, description=description)
        self.jobs[job_id], self.params[job_id], self.log[job_id] = job, params, []
        self.done[job_id] = threading.Event()
        self.pending.put(job_id)
        return job

    def wait(self, deploy_id: str, timeout: float) -> Deploy:
        self.done[deploy_id].wait(timeout)
        return self.jobs[deploy_id]

    def _work(self) -> None:
        while True:
            job_id = self.pending.get()
            self.go.wait()
            job = self.jobs[job_id] = replace(self.jobs[job_id], status=DeployStatus.RUNNING)
            context = JobContext(job, self.params[job_id], self.log[job_id].append, threading.Event())
            try:
                self.handlers[job.kind](context)
                status, error = DeployStatus.SUCCEEDED, None
            except DockyardError as exc:
                status, error = DeployStatus.FAILED, str(exc)
            except Exception as exc:
                status, error = DeployStatus.FAILED, f"internal error: {exc!r}"
            self.jobs[job_id] = replace(job, status=status, error=error)
            self.done[job_id].set()


class FakeProxy:
    """Records what it would serve: each site with the certificate the lookup gives it."""

    def __init__(self, certs: MemoryCerts) -> None:
        self.lookup = site_tls_lookup(certs)
        self.served: list[dict[str, SiteTls | None]] = []
        self.reject = False

    def apply(self, sites: Sequence[Site]) -> None:
        if self.reject:
            raise ProxyConfigRejected("nginx: cannot load certificate")
        self.served.append({site.app: self.lookup(site) for site in sites})


class Bed:
    def __init__(
        self,
        *,
        enabled: bool = True,
        background: bool = False,
        events: EventBus | None = None,
        **apps: Sequence[str],
    ) -> None:
        self.store = Apps(**apps)
        self.certs = MemoryCerts()
        self.ca = FakeCA()
        self.proxy = FakeProxy(self.certs)
        self.now = NOW
        routing = Routing(store=cast(Any, self.store), runtime=cast(Any, None), proxy=cast(Any, self.proxy))
        self.jobs = FakeJobs()
        self.service = CertificateService(
            store=cast(Any, self.store),
            certs=self.certs,
            issuer=self.ca if enabled else None,
            routing=routing,
            jobs=self.jobs,
            events=events,
            policy=RenewalPolicy(),
            check_interval=3600,
            clock=lambda: self.now,
        )
        self.ready = threading.Event()  # background tests set it when their setup is done
        if not background:
            self.ready.set()
        self.service.start(self.ready, background=background)

    def served(self, app: str) -> SiteTls | None:
        return self.proxy.served[-1][app] if self.proxy.served else None


@pytest.fixture
def bed() -> Bed:
    return Bed(web=(GOOD, OTHER))


def test_one_certificate_covers_every_domain_and_is_served(bed: Bed) -> None:
    result = bed.service.issue("web")

    assert bed.ca.orders == [(GOOD, OTHER)]
    assert result.issued and result.errors == {}
    assert bed.served("web") == SiteTls(
        "/certs/web/fullchain.pem", "/certs/web/privkey.pem", (GOOD, OTHER), redirect=True
    )
    assert [status.valid_until for _, status in result.report.domains] == [NOW + timedelta(days=90)] * 2
    assert bed.certs.files["web"][0] == b"chain-1"


def test_a_second_request_does_not_reissue_a_valid_certificate(bed: Bed) -> None:
    bed.service.issue("web")
    again = bed.service.issue("web")

    assert not again.issued and again.reason == "certificate is valid"
    assert len(bed.ca.orders) == 1


def test_a_failed_challenge_reorders_without_that_domain() -> None:
    bed = Bed(web=(BROKEN, GOOD))
    bed.ca.failing[BROKEN] = "dial tcp 127.0.0.2:80: connection refused"

    result = bed.service.issue("web")

    assert bed.ca.orders == [(BROKEN, GOOD), (GOOD,)]
    assert result.issued
    assert result.errors == {BROKEN: "connection: dial tcp 127.0.0.2:80: connection refused"}
    served = bed.served("web")
    assert served is not None and served.domains == (GOOD,)
    broken = dict(result.report.domains)[BROKEN]
    assert (broken.error_code, broken.failures) == ("connection", 1)
    assert broken.next_attempt == NOW + timedelta(minutes=10)


def test_no_reorder_when_the_current_certificate_already_serves_the_rest(bed: Bed) -> None:
    bed.service.issue("web")
    bed.store.apps["web"] = replace(bed.store.apps["web"], domains=(BROKEN, GOOD, OTHER))
    bed.ca.failing[BROKEN] = "refused"

    result = bed.service.issue("web")

    assert bed.ca.orders[1:] == [(BROKEN, GOOD, OTHER)]
    assert not result.issued and set(result.errors) == {BROKEN}


def test_a_ca_error_backs_off_every_ordered_domain(bed: Bed) -> None:
    bed.ca.error = CertificateError("the CA refused: too many certificates", code="rateLimited")

    result = bed.service.issue("web")

    assert not result.issued
    for _, status in result.report.domains:
        assert status.error_code == "rateLimited" and status.failures == 1
    assert bed.served("web") is None
    bed.ca.error = None
    assert bed.service.check_all() == NOW + timedelta(minutes=10)


def test_a_certificate_nginx_refuses_is_rolled_back(bed: Bed) -> None:
    bed.service.issue("web")
    bed.proxy.reject = True

    result = bed.service.issue("web", force=True)

    assert not result.issued
    assert bed.certs.files["web"][0] == b"chain-1"
    assert bed.certs.load("web").certificate is not None
    assert bed.certs.load("web").certificate.serial == "1"  # type: ignore[union-attr]
    assert all(status.error_code == "proxy" for _, status in result.report.domains)


def test_the_daily_cap_refuses_a_manual_request(bed: Bed) -> None:
    bed.ca.failing[GOOD] = "refused"
    bed.ca.failing[OTHER] = "refused"
    for _ in range(RenewalPolicy().daily_attempts):
        bed.service.issue("web")

    with pytest.raises(AttemptsExhausted):
        bed.service.issue("web")
    assert len(bed.ca.orders) == RenewalPolicy().daily_attempts


def test_redirect_opt_out_is_served_at_once(bed: Bed) -> None:
    bed.service.issue("web")
    bed.service.set_redirect("web", False)

    served = bed.served("web")
    assert served is not None and served.redirect is False
    assert bed.certs.load("web").https_redirect is False


def test_domain_changes_are_issued_in_the_background() -> None:
    bed = Bed(background=True, web=(GOOD, OTHER))
    bed.service.post_domains_update("web")
    bed.ready.set()

    deadline = time.monotonic() + 5
    while not bed.certs.files and time.monotonic() < deadline:
        time.sleep(0.01)
    bed.service.stop()
    assert bed.ca.orders == [(GOOD, OTHER)]


def test_the_renewal_check_renews_only_certificates_that_are_due() -> None:
    bed = Bed(background=True, old=("old.example.com",), fresh=("fresh.example.com",))
    for app, days in (("old", 5), ("fresh", 80)):
        info = CertificateInfo((f"{app}.example.com",), app, NOW, NOW + timedelta(days=days))
        bed.certs.save(CertificateState(app=app, certificate=info))

    bed.ready.set()

    deadline = time.monotonic() + 5
    while not bed.certs.files and time.monotonic() < deadline:
        time.sleep(0.01)
    bed.service.stop()
    assert bed.ca.orders == [("old.example.com",)]
    assert any("renewal due" in line for line in bed.certs.log["old"])


def test_a_hostile_domain_never_reaches_the_ca() -> None:
    bed = Bed(web=(GOOD, "a.com;include /etc/shadow", "*.example.com"))

    bed.service.issue("web")

    assert bed.ca.orders == [(GOOD,)]
    assert [domain for domain, _ in bed.service.report("web").domains] == [GOOD]


def test_without_acme_nothing_is_ordered() -> None:
    bed = Bed(enabled=False, web=(GOOD,))

    bed.service.post_domains_update("web")
    with pytest.raises(AcmeNotConfigured):
        bed.service.issue("web")
    assert bed.ca.orders == []


def test_destroying_an_app_forgets_its_certificate(bed: Bed) -> None:
    bed.service.issue("web")
    bed.service.post_delete("web")

    assert "web" not in bed.certs.files and "web" not in bed.certs.states


def test_a_crashed_run_counts_as_a_failed_attempt() -> None:
    bed = Bed(background=True, web=(GOOD,))
    bed.ca.error = cast(Any, RuntimeError("disk full"))  # not a CertificateError: the worker crashes
    bed.ready.set()

    deadline = time.monotonic() + 5
    while not bed.certs.states.get("web") and time.monotonic() < deadline:
        time.sleep(0.01)
    bed.service.stop()
    status = bed.certs.load("web").domain(GOOD)
    assert status.error_code == "internal" and "disk full" in (status.last_error or "")
    assert status.next_attempt == NOW + timedelta(minutes=10)
    assert len(bed.ca.orders) == 1


def test_issuance_is_a_certificate_job_with_its_own_log_and_event() -> None:
    events = EventBus()
    subscription = events.subscribe()
    bed = Bed(events=events, web=(GOOD,))

    result = bed.service.issue("web")

    assert result.job is not None
    job = bed.jobs.jobs[result.job]
    assert (job.kind, job.status) == (DeployKind.CERTIFICATE, DeployStatus.SUCCEEDED)
    assert any("ordering a certificate for web.example.com" in line for line in bed.jobs.log[result.job])
    (event,) = [e.data for e in subscription.drain() if e.type == "certificate"]
    assert (event["app"], event["status"], event["domains"]) == ("web", "issued", [GOOD])
    assert event["not_after"] == (NOW + timedelta(days=90)).isoformat()


def test_a_failed_issuance_fails_its_job_with_the_reason() -> None:
    events = EventBus()
    subscription = events.subscribe()
    bed = Bed(events=events, web=(BROKEN,))
    bed.ca.failing[BROKEN] = "connection refused"

    result = bed.service.issue("web")

    assert result.job is not None and not result.issued
    job = bed.jobs.jobs[result.job]
    assert job.status is DeployStatus.FAILED
    assert job.error == f"no certificate issued: {BROKEN}: connection: connection refused"
    (event,) = [e.data for e in subscription.drain() if e.type == "certificate"]
    assert (event["status"], event["errors"]) == ("failed", {BROKEN: "connection: connection refused"})


def test_domain_changes_queue_one_job_while_one_waits(bed: Bed) -> None:
    bed.jobs.go.clear()
    for _ in range(3):
        bed.service.post_domains_update("web")

    assert len(bed.jobs.jobs) == 1
    bed.jobs.go.set()
    (job_id,) = bed.jobs.jobs
    assert bed.jobs.wait(job_id, 5).status is DeployStatus.SUCCEEDED
    assert bed.ca.orders == [(GOOD, OTHER)]


def test_domain_certificates_give_each_domain_a_word_and_the_cas_last_error() -> None:
    bed = Bed(web=(GOOD, BROKEN))
    domains = (GOOD, BROKEN)
    assert [c.state for c in bed.service.domain_certificates("web", domains)] == ["pending", "pending"]

    bed.ca.failing[BROKEN] = "no DNS record"
    bed.service.issue("web")

    good, broken = bed.service.domain_certificates("web", domains)
    assert (good.state, good.valid_until, good.last_error) == ("valid", NOW + timedelta(days=90), None)
    assert broken.state == "failing" and "no DNS record" in (broken.last_error or "")
    assert [c.state for c in Bed(enabled=False, web=(GOOD,)).service.domain_certificates("web", (GOOD,))] == [
        "none"
    ]


def test_each_domain_comes_with_its_url_https_where_the_certificate_serves() -> None:
    bed = Bed(web=(GOOD, BROKEN))
    bed.ca.failing[BROKEN] = "no DNS record"
    bed.service.issue("web")
    assert [(c.domain, c.url) for c in bed.service.domains("web")] == [
        (GOOD, f"https://{GOOD}"),
        (BROKEN, f"http://{BROKEN}"),
    ]
