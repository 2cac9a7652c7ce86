"""Automatic HTTPS: issue one certificate per app, serve it, renew it, and say why when it fails.

Issuance is a `certificate` job in the durable deploy queue (so it never runs next to
another job of the same app, survives a controller restart, and shows up in `dockyard
deploys` and on the event stream). It is queued whenever an app's domains change, by
`certs issue`/`certs renew`, and by a renewal loop that checks every app once per interval
(daily by default) and whenever a failed domain's backoff ends. Nothing here blocks or
fails a deploy or a domain change: until a certificate exists the app is served over HTTP.
"""

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from controller.domain.certificates import (
    AcmeNotConfigured,
    AttemptsExhausted,
    CertificateError,
    CertificateInfo,
    CertificateState,
    ChallengeFailed,
    DomainStatus,
    IssuedCertificate,
    RenewalPolicy,
    next_retry,
    plan_order,
    record_attempt,
    record_failure,
    record_success,
    renewal_due,
    served_domains,
)
from controller.domain.errors import (
    DeployCancelled,
    DockyardError,
    InvalidInput,
    RuntimeUnavailable,
)
from controller.domain.models import DeployKind, Site, SiteTls
from controller.domain.names import validate_app_name, validate_domain
from controller.services.apps import AppListener
from controller.services.certificate_ports import CertificateIssuer, CertificateStore
from controller.services.events import EventBus
from controller.services.ports import Store
from controller.services.queue import JobContext, JobQueue
from controller.services.routing import Routing

logger = logging.getLogger(__name__)
LOG_TAIL = 20
MIN_RECHECK = 60.0  # seconds between checks triggered by a retry time
WAIT_FOR_JOB = 600.0  # how long `certs issue` waits for its job (it may queue behind a build)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CertificateReport:
    """What `dockyard certs APP` shows: the certificate, each domain's record, recent log."""

    app: str
    acme_enabled: bool
    https_redirect: bool
    certificate: CertificateInfo | None
    served: tuple[str, ...]
    domains: tuple[tuple[str, DomainStatus], ...]
    log: tuple[str, ...] = ()


@dataclass(frozen=True)
class IssueResult:
    """The outcome of one issuance run, and the report after it."""

    report: CertificateReport
    issued: bool
    reason: str
    errors: dict[str, str] = field(default_factory=dict)  # domain -> "code: detail"
    job: str | None = None  # the certificate job that ran it


class CertificateJobFailed(DockyardError):
    """No certificate could be issued; the job fails with the CA's reasons."""


def site_tls_lookup(certs: CertificateStore) -> Callable[[Site], SiteTls | None]:
    """For the proxy: a site's certificate, limited to the site's domains it covers."""

    def lookup(site: Site) -> SiteTls | None:
        state = certs.load(site.app)
        names = served_domains(state, site.domains)
        if not names:
            return None
        cert_path, key_path = certs.paths(site.app)
        return SiteTls(cert_path=cert_path, key_path=key_path, domains=names, redirect=state.https_redirect)

    return lookup


def checked_domains(app: str, domains: Sequence[str]) -> tuple[str, ...]:
    """The app's domains that pass validation again; any other never reaches the CA."""
    valid = []
    for domain in domains:
        try:
            if validate_domain(domain) == domain:
                valid.append(domain)
                continue
        except InvalidInput:
            pass
        logger.error("app %s: refusing to order a certificate for %r", app, domain)
    return tuple(valid)


@dataclass(frozen=True)
class DomainCertificate:
    """One domain with its URL and its certificate, as lists show it (the API's domain list,
    the app page, the dashboard's rows)."""

    domain: str
    state: str  # valid (served over HTTPS), failing (the CA's last error), pending, none (no ACME)
    valid_until: datetime | None
    last_error: str | None
    url: str  # what users open: https:// where the certificate serves


def plain_url(domain: str, secure: bool) -> str:
    """A domain's URL on the default ports."""
    return f"{'https' if secure else 'http'}://{domain}"


class CertificateService(AppListener):
    """Issues, installs and renews certificates; an AppListener of AppService."""

    def __init__(
        self,
        *,
        store: Store,
        certs: CertificateStore,
        issuer: CertificateIssuer | None,
        routing: Routing,
        jobs: JobQueue,
        policy: RenewalPolicy,
        check_interval: float,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = _utcnow,
        wait_for_job: float = WAIT_FOR_JOB,
        system_sites: Mapping[str, Sequence[str]] | None = None,
        public_url: Callable[[str, bool], str] = plain_url,
    ) -> None:
        self._store = store
        self._public_url = public_url  # a domain's URL, secure or not (the proxy's ports)
        # The controller's own sites (the dashboard domain), by reserved name: not apps, so
        # their certificates are ordered by the renewal loop itself rather than as queue jobs.
        self._system = {name: tuple(domains) for name, domains in (system_sites or {}).items()}
        self._certs = certs
        self._issuer = issuer
        self._routing = routing
        self._jobs = jobs
        self._policy = policy
        self._check_interval = check_interval
        self._events = events or EventBus()
        self._clock = clock
        self._wait_for_job = wait_for_job
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._job_logs: dict[str, Callable[[str], None]] = {}  # app -> log of its running job
        self._outcomes: dict[str, IssueResult | DockyardError] = {}  # manual job id -> its outcome
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []
        jobs.handle(DeployKind.CERTIFICATE, self._run_job)

    @property
    def enabled(self) -> bool:
        return self._issuer is not None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, ready: threading.Event, *, background: bool = True) -> None:
        """Start the renewal loop; nothing is issued before `ready` (routes adopted)."""
        self._ready = ready
        if not background or not self.enabled or self._threads:
            return
        thread = threading.Thread(target=self._renewal_loop, name="dockyard-renewal", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    # -- AppService events ----------------------------------------------------------------

    def post_domains_update(self, app: str) -> None:
        """Domains changed (an app created with a default domain, or a domain added)."""
        if self.enabled:
            self.queue(app)

    def post_delete(self, app: str) -> None:
        self._certs.remove(app)

    # -- queries and requests -----------------------------------------------------------

    def report(self, app: str) -> CertificateReport:
        """An app's certificate state (or a system site's, by its reserved name)."""
        if app in self._system:
            return self._report(app, self._system[app])
        record = self._store.get_app(validate_app_name(app))
        return self._report(record.name, record.domains)

    def domains(self, app: str) -> tuple[DomainCertificate, ...]:
        """The app's domains, in order, each with its URL and certificate.

        Raises:
            InvalidInput: not an app name.
            NotFound: no such app.
        """
        record = self._store.get_app(validate_app_name(app))
        return self.domain_certificates(record.name, record.domains)

    def domain_certificates(self, app: str, domains: Sequence[str]) -> tuple[DomainCertificate, ...]:
        """Each of `domains`' certificate in a word, with its expiry, the CA's last error and
        the domain's URL (https:// where the certificate serves), from one read of the state.

        Reads only the app's certificate state (no log, no validation of `app`: the caller
        passes an app it has just read), so a list of every app can afford it.
        """
        state = self._certs.load(app)
        served = set(served_domains(state, domains))
        words = []
        for domain in domains:
            record = state.domain(domain)
            if domain in served:
                word = "valid"
            elif record.last_error:
                word = "failing"
            else:
                word = "pending" if self.enabled else "none"
            url = self._public_url(domain, domain in served)
            words.append(DomainCertificate(domain, word, record.valid_until, record.last_error, url))
        return tuple(words)

    def _report(self, name: str, record_domains: Sequence[str]) -> CertificateReport:
        domains = checked_domains(name, record_domains)
        state = self._certs.load(name)
        return CertificateReport(
            app=name,
            acme_enabled=self.enabled,
            https_redirect=state.https_redirect,
            certificate=state.certificate,
            served=served_domains(state, domains),
            domains=tuple((domain, state.domain(domain)) for domain in domains),
            log=tuple(self._certs.read_log(name, LOG_TAIL)),
        )

    def issue(self, app: str, *, force: bool = False) -> IssueResult:
        """Issue now if the app needs a certificate (or always with `force`), ignoring backoff.

        The work is a certificate job; this queues it and waits for it, so it runs after a
        deploy of the app that is running now.

        Raises:
            AcmeNotConfigured, NotFound, RuntimeUnavailable (routes not adopted yet),
            AttemptsExhausted (today's cap is used up for every domain that needs one).
        """
        if not self.enabled:
            raise AcmeNotConfigured(
                "ACME is not configured: set DOCKYARD_ACME_EMAIL (and DOCKYARD_ACME_DIRECTORY)"
            )
        name = self._store.get_app(validate_app_name(app)).name
        if not self._ready.is_set():
            raise RuntimeUnavailable("the controller has not adopted its routes yet (is Docker up?)")
        what = "renew (forced)" if force else "issue"
        job = self._jobs.request_job(
            name, DeployKind.CERTIFICATE, {"manual": True, "force": force}, f"certificate {what}"
        )
        final = self._jobs.wait(job.id, self._wait_for_job)
        outcome = self._outcomes.pop(job.id, None)
        if isinstance(outcome, DockyardError):
            raise outcome
        if outcome is None:
            reason = f"certificate job {job.id} is {final.status.value}"
            if final.error:
                reason += f": {final.error}"
            return IssueResult(self.report(name), issued=False, reason=reason, job=job.id)
        return replace(outcome, job=job.id)

    def set_redirect(self, app: str, enabled: bool) -> CertificateReport:
        """Turn the HTTP -> HTTPS redirect of the app on or off (served at once)."""
        name = self._store.get_app(validate_app_name(app)).name
        with self._lock_for(name):
            before = self._certs.load(name)
            after = replace(before, https_redirect=enabled)
            self._routing.refresh_with(lambda: self._certs.save(after), lambda: self._certs.save(before))
        return self.report(name)

    def queue(self, app: str) -> None:
        """Queue a certificate job that brings the app's certificate up to date (one at a time)."""
        self._jobs.request_job(
            app, DeployKind.CERTIFICATE, {"manual": False, "force": False}, "certificate", coalesce=True
        )

    def check_all(self) -> datetime | None:
        """Queue every app that needs issuance or renewal now; return the next retry time."""
        now = self._clock()
        for record in self._store.list_apps():
            domains = checked_domains(record.name, record.domains)
            if domains and plan_order(domains, self._certs.load(record.name), now, self._policy).domains:
                self.queue(record.name)
        for name, system_domains in self._system.items():
            domains = checked_domains(name, system_domains)
            if domains and plan_order(domains, self._certs.load(name), now, self._policy).domains:
                self._run_system(name)
        return self._next_retry(now)

    def _next_retry(self, now: datetime) -> datetime | None:
        subjects = [(record.name, record.domains) for record in self._store.list_apps()]
        retries = [
            next_retry(self._certs.load(name), domains, now, self._policy)
            for name, domains in [*subjects, *self._system.items()]
        ]
        return min((retry for retry in retries if retry is not None), default=None)

    def _domains_of(self, name: str) -> tuple[str, ...]:
        if name in self._system:
            return self._system[name]
        return self._store.get_app(name).domains

    def _run_system(self, name: str) -> None:
        """Order a system site's certificate now, in the renewal thread (it has no job queue)."""
        try:
            result = self._run(name, manual=False, force=False)
        except DockyardError:
            logger.exception("certificate for %s failed", name)
            return
        except Exception as crash:
            logger.exception("certificate issuance for %s crashed", name)
            self._record_crash(name, crash)
            return
        self._publish(result)

    # -- background threads -----------------------------------------------------------------

    def _wait_ready(self) -> bool:
        while not self._stopping.is_set():
            if self._ready.wait(0.5):
                return True
        return False

    def _run_job(self, ctx: JobContext) -> None:
        """A certificate job: order what the app needs, install it, and say how it went."""
        app, manual = ctx.job.app, bool(ctx.params.get("manual"))
        if not self.enabled:
            raise AcmeNotConfigured("ACME is not configured: nothing to issue")
        if not self._ready.is_set():
            raise RuntimeUnavailable("the controller has not adopted its routes yet (is Docker up?)")
        if ctx.cancel.is_set():
            raise DeployCancelled("the certificate job was cancelled")
        self._job_logs[app] = ctx.log
        try:
            result = self._run(app, manual=manual, force=bool(ctx.params.get("force")))
        except DockyardError as failure:
            if manual:
                self._outcomes[ctx.job.id] = failure
            raise
        except Exception as crash:
            logger.exception("certificate issuance for %s crashed", app)
            self._record_crash(app, crash)
            raise
        finally:
            self._job_logs.pop(app, None)
            self._wake.set()  # the renewal loop recomputes the next retry
        if manual:
            self._outcomes[ctx.job.id] = result
        self._publish(result)
        outcome = "new certificate served" if result.issued else "no new certificate"
        ctx.log(f"-----> {result.reason}: {outcome}")
        if result.errors and not result.issued:
            raise CertificateJobFailed(
                "no certificate issued: " + "; ".join(f"{d}: {e}" for d, e in result.errors.items())
            )

    def _publish(self, result: IssueResult) -> None:
        report = result.report
        if not result.issued and not result.errors:
            return
        self._events.publish(
            "certificate",
            app=report.app,
            status="issued" if result.issued else "failed",
            domains=list(report.served),
            not_after=report.certificate.not_after.isoformat() if report.certificate else None,
            errors=result.errors,
        )

    def _renewal_loop(self) -> None:
        """Check every app at start, then every `check_interval`, and when a backoff ends.

        A retry time that is already past (an attempt that could not be recorded) is
        checked again no sooner than MIN_RECHECK, so nothing can spin against the CA.
        """
        if not self._wait_ready():
            return
        now = self._clock().timestamp()
        due_at = next_check = now
        while not self._stopping.is_set():
            now = self._clock().timestamp()
            retry: datetime | None = None
            if now >= due_at:
                try:
                    retry = self.check_all()
                except DockyardError:
                    logger.exception("certificate renewal check failed")
                if now >= next_check:
                    next_check = now + self._check_interval
            else:
                retry = self._next_retry(self._clock())
            due_at = min(next_check, max(retry.timestamp(), now + MIN_RECHECK) if retry else next_check)
            self._wake.wait(max(0.0, due_at - self._clock().timestamp()))
            self._wake.clear()

    def _record_crash(self, app: str, crash: Exception) -> None:
        """Count a crashed run as a failed attempt, so backoff and the daily cap hold."""
        try:
            domains = checked_domains(app, self._domains_of(app))
            state = self._certs.load(app)
            error = ("internal", f"{type(crash).__name__}: {crash}")
            self._save(
                record_failure(state, dict.fromkeys(domains, error), self._clock(), self._policy), domains
            )
        except Exception:
            logger.exception("cannot record the failed issuance of %s", app)

    # -- one issuance run -------------------------------------------------------------------

    def _lock_for(self, app: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(app, threading.Lock())

    def _log(self, app: str, line: str) -> None:
        logger.info("certs %s: %s", app, line)
        self._certs.append_log(app, f"{self._clock().isoformat(timespec='milliseconds')} {line}")
        job_log = self._job_logs.get(app)
        if job_log is not None:
            job_log("       " + line)

    def _run(self, app: str, *, manual: bool, force: bool) -> IssueResult:
        with self._lock_for(app):
            domains = checked_domains(app, self._domains_of(app))
            state = self._certs.load(app)
            now = self._clock()
            plan = plan_order(domains, state, now, self._policy, force=force, manual=manual)
            if not plan.domains:
                if manual and plan.blocked:
                    raise AttemptsExhausted(
                        f"today's {self._policy.daily_attempts} attempts are used up for "
                        f"{', '.join(plan.blocked)}; try again tomorrow (UTC)"
                    )
                return IssueResult(self.report(app), issued=False, reason=plan.reason)
            self._log(app, f"{plan.reason}: ordering a certificate for {', '.join(plan.domains)}")
            errors: dict[str, str] = {}
            issued, state = self._order(app, domains, plan.domains, state, now, errors)
            return IssueResult(self.report(app), issued=issued is not None, reason=plan.reason, errors=errors)

    def _order(
        self,
        app: str,
        app_domains: tuple[str, ...],
        order: tuple[str, ...],
        state: CertificateState,
        now: datetime,
        errors: dict[str, str],
    ) -> tuple[IssuedCertificate | None, CertificateState]:
        """Order `order`; if some challenges fail, order again without them when that helps."""
        assert self._issuer is not None
        try:
            issued = self._issuer.issue(order, log=lambda line: self._log(app, line))
        except ChallengeFailed as failure:
            failed = {f.domain: (f.code, f.detail) for f in failure.failures if f.domain in order}
            if not failed:  # the CA blamed names we did not order: count it against all of them
                failed = dict.fromkeys(order, (failure.code, str(failure)))
            passed = tuple(d for d in order if d not in failed)
            state = record_attempt(record_failure(state, failed, now, self._policy), passed, now)
            self._save(state, app_domains)
            for domain, (code, detail) in failed.items():
                errors[domain] = f"{code}: {detail}"
                self._log(app, f"challenge failed for {domain}: {code}: {detail}")
            if passed and self._worth_reordering(state, passed, now):
                self._log(app, f"ordering again without the failed domains: {', '.join(passed)}")
                return self._order(app, app_domains, passed, state, now, errors)
            return None, state
        except CertificateError as failure:
            state = record_failure(state, {d: (failure.code, str(failure)) for d in order}, now, self._policy)
            self._save(state, app_domains)
            errors.update({d: f"{failure.code}: {failure}" for d in order})
            self._log(app, f"issuance failed: {failure.code}: {failure}")
            return None, state
        return self._install(app, app_domains, issued, state, now, errors)

    def _worth_reordering(self, state: CertificateState, passed: tuple[str, ...], now: datetime) -> bool:
        """Re-order for the domains that passed unless the current certificate already serves them."""
        covered = set(state.certificate.domains) if state.certificate else set()
        return not set(passed) <= covered or renewal_due(state, now, self._policy)

    def _install(
        self,
        app: str,
        app_domains: tuple[str, ...],
        issued: IssuedCertificate,
        before: CertificateState,
        now: datetime,
        errors: dict[str, str],
    ) -> tuple[IssuedCertificate | None, CertificateState]:
        info = CertificateInfo(issued.domains, issued.serial, issued.not_before, issued.not_after)
        after = self._pruned(record_success(before, issued, info, now), app_domains)
        undo_files: list[Callable[[], None]] = []

        def change() -> None:
            undo_files.append(self._certs.install(app, issued.fullchain_pem, issued.key_pem))
            self._certs.save(after)

        def undo() -> None:
            for restore in undo_files:
                restore()
            self._certs.save(before)

        try:
            self._routing.refresh_with(change, undo)
        except DockyardError as failure:
            failed = record_failure(
                before, {d: ("proxy", str(failure)) for d in issued.domains}, now, self._policy
            )
            self._save(failed, app_domains)
            errors.update({d: f"proxy: {failure}" for d in issued.domains})
            self._log(app, f"the proxy refused the new certificate: {failure}")
            return None, failed
        self._log(
            app,
            f"serving certificate {issued.serial} for {', '.join(issued.domains)}, "
            f"valid until {issued.not_after.isoformat(timespec='seconds')}",
        )
        return issued, after

    def _pruned(self, state: CertificateState, app_domains: Sequence[str]) -> CertificateState:
        """Drop the records of domains the app no longer has."""
        return replace(state, domains={d: s for d, s in state.domains.items() if d in app_domains})

    def _save(self, state: CertificateState, app_domains: Sequence[str]) -> None:
        self._certs.save(self._pruned(state, app_domains))
