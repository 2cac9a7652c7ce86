"""Certificates of apps: status per domain, CA errors, and when to (re)issue (pure rules).

One certificate per app covers the app's domains (SANs). Each domain keeps its own
record of attempts, so one broken domain backs off on its own while the others keep
their certificate, and never runs into the CA's rate limits (a daily cap per domain).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from controller.domain.errors import DockyardError, ErrorKind


@dataclass(frozen=True)
class ChallengeFailure:
    """One domain whose challenge the CA could not validate, in the CA's own words."""

    domain: str
    code: str  # the ACME error code, e.g. "connection", "unauthorized", "dns"
    detail: str


class CertificateError(DockyardError):
    """The CA refused the order or could not be reached; the message is the CA's detail."""

    kind = ErrorKind.UPSTREAM_FAILED

    def __init__(self, message: str, *, code: str = "", failures: Sequence[ChallengeFailure] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.failures = tuple(failures)


class ChallengeFailed(CertificateError):
    """At least one domain's http-01 challenge failed; `failures` says which and why."""

    def __init__(self, failures: Sequence[ChallengeFailure]) -> None:
        text = "; ".join(f"{f.domain}: {f.code}: {f.detail}" for f in failures)
        super().__init__(f"challenge failed for {text}", code=failures[0].code, failures=failures)


class AttemptsExhausted(DockyardError):
    """Every domain that needs a certificate used up today's attempts."""

    kind = ErrorKind.RATE_LIMITED


class AcmeNotConfigured(DockyardError):
    """ACME is off: DOCKYARD_ACME_EMAIL (and a directory) must be set."""

    kind = ErrorKind.CONFLICT


@dataclass(frozen=True)
class IssuedCertificate:
    """What the CA handed out: the PEM chain and key, and the facts read from the leaf."""

    fullchain_pem: bytes
    key_pem: bytes
    domains: tuple[str, ...]
    serial: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class CertificateInfo:
    """The certificate an app has on disk (read from its PEM), without the key."""

    domains: tuple[str, ...]
    serial: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class DomainStatus:
    """What happened to one domain's certificate: validity, attempts, the last CA error."""

    valid_until: datetime | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    error_code: str | None = None
    failures: int = 0  # consecutive failed attempts
    next_attempt: datetime | None = None  # automatic retries wait until then
    attempts_day: date | None = None
    attempts: int = 0  # attempts on attempts_day (UTC)


@dataclass(frozen=True)
class CertificateState:
    """An app's certificate (if any), its domains' records and its redirect choice."""

    app: str
    certificate: CertificateInfo | None = None
    domains: Mapping[str, DomainStatus] = field(default_factory=dict)
    https_redirect: bool = True

    def domain(self, name: str) -> DomainStatus:
        return self.domains.get(name, DomainStatus())


@dataclass(frozen=True)
class RenewalPolicy:
    """When certificates are renewed and how failures back off."""

    renew_before: timedelta = timedelta(days=30)
    retry_base: timedelta = timedelta(minutes=10)
    retry_max: timedelta = timedelta(hours=12)
    daily_attempts: int = 5  # per domain; Let's Encrypt allows 5 failed validations per hour

    def backoff(self, failures: int) -> timedelta:
        """The wait after `failures` consecutive failures (doubling, capped)."""
        if failures <= 0:
            return timedelta(0)
        delay: timedelta = self.retry_base * (2 ** min(failures - 1, 30))
        return min(delay, self.retry_max)


@dataclass(frozen=True)
class OrderPlan:
    """What one issuance run orders: `domains` (empty: nothing to do) and why."""

    domains: tuple[str, ...]
    reason: str
    blocked: tuple[str, ...] = ()  # domains that need a certificate but may not be tried now


def attempts_today(status: DomainStatus, now: datetime) -> int:
    return status.attempts if status.attempts_day == now.date() else 0


def may_attempt(status: DomainStatus, now: datetime, policy: RenewalPolicy, *, manual: bool) -> bool:
    """Under today's cap, and (unless a user asked) past the backoff of the last failure."""
    if attempts_today(status, now) >= policy.daily_attempts:
        return False
    return manual or status.next_attempt is None or now >= status.next_attempt


def served_domains(state: CertificateState, app_domains: Sequence[str]) -> tuple[str, ...]:
    """The app's domains its certificate covers, in the app's order."""
    if state.certificate is None:
        return ()
    covered = set(state.certificate.domains)
    return tuple(domain for domain in app_domains if domain in covered)


def renewal_due(state: CertificateState, now: datetime, policy: RenewalPolicy) -> bool:
    cert = state.certificate
    return cert is not None and cert.not_after - now < policy.renew_before


def plan_order(
    app_domains: Sequence[str],
    state: CertificateState,
    now: datetime,
    policy: RenewalPolicy,
    *,
    force: bool = False,
    manual: bool = False,
) -> OrderPlan:
    """Decide which of the app's domains to order a certificate for now.

    A new certificate is needed when a domain is not covered yet, when the certificate
    has less than `renew_before` left, or when forced. A renewal waits until every
    covered domain is past its backoff (a user's request skips the backoff); no domain
    is ever tried beyond its daily cap. The order lists every covered domain still
    under its cap plus the uncovered ones that may be tried now.
    """
    covered = set(served_domains(state, app_domains))
    missing = [d for d in app_domains if d not in covered]
    ready_missing = [d for d in missing if may_attempt(state.domain(d), now, policy, manual=manual)]
    blocked = [d for d in missing if d not in ready_missing]
    wanted = force or renewal_due(state, now, policy)
    held = [
        d
        for d in app_domains
        if d in covered and not may_attempt(state.domain(d), now, policy, manual=manual)
    ]
    renew = wanted and not held
    if wanted and held:
        blocked += held
    if not (renew or ready_missing):
        if blocked:
            return OrderPlan((), "waiting to retry", tuple(blocked))
        return OrderPlan((), "certificate is valid" if covered else "no domain to order")
    capped = {d for d in covered if attempts_today(state.domain(d), now) >= policy.daily_attempts}
    order = tuple(d for d in app_domains if (d in covered and d not in capped) or d in ready_missing)
    reason = "forced renewal" if force else "renewal due" if renew else "new domains"
    return OrderPlan(order, reason, tuple(blocked))


def _count_attempt(status: DomainStatus, now: datetime) -> DomainStatus:
    return replace(
        status, last_attempt=now, attempts_day=now.date(), attempts=attempts_today(status, now) + 1
    )


def record_success(
    state: CertificateState, issued: IssuedCertificate, info: CertificateInfo, now: datetime
) -> CertificateState:
    """The state after `issued` was installed: its domains valid, their errors cleared."""
    domains = {
        name: status if name in issued.domains else replace(status, valid_until=None)
        for name, status in state.domains.items()
    }
    for domain in issued.domains:
        domains[domain] = replace(
            _count_attempt(state.domain(domain), now),
            valid_until=issued.not_after,
            last_success=now,
            last_error=None,
            error_code=None,
            failures=0,
            next_attempt=None,
        )
    return replace(state, certificate=info, domains=domains)


def record_failure(
    state: CertificateState,
    errors: Mapping[str, tuple[str, str]],
    now: datetime,
    policy: RenewalPolicy,
) -> CertificateState:
    """The state after an attempt failed for `errors` (domain -> (code, detail))."""
    domains = dict(state.domains)
    for domain, (code, detail) in errors.items():
        status = _count_attempt(state.domain(domain), now)
        failures = status.failures + 1
        domains[domain] = replace(
            status,
            last_error=detail,
            error_code=code or None,
            failures=failures,
            next_attempt=now + policy.backoff(failures),
        )
    return replace(state, domains=domains)


def record_attempt(state: CertificateState, domains: Sequence[str], now: datetime) -> CertificateState:
    """Count an attempt for domains whose challenge passed in an order that failed elsewhere."""
    updated = dict(state.domains)
    for domain in domains:
        updated[domain] = _count_attempt(state.domain(domain), now)
    return replace(state, domains=updated)


def next_retry(
    state: CertificateState, app_domains: Sequence[str], now: datetime, policy: RenewalPolicy
) -> datetime | None:
    """The earliest time a failed domain of the app may be tried again automatically."""
    times = []
    for domain in app_domains:
        status = state.domain(domain)
        if status.next_attempt is None:
            continue
        retry = status.next_attempt
        if attempts_today(status, now) >= policy.daily_attempts:
            tomorrow = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=now.tzinfo)
            retry = max(retry, tomorrow)
        times.append(retry)
    return min(times, default=None)


# -- status.json ------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def state_to_json(state: CertificateState) -> dict[str, Any]:
    """The JSON document of status.json (the certificate's facts come from its PEM)."""
    cert = state.certificate
    return {
        "app": state.app,
        "https_redirect": state.https_redirect,
        "certificate": None
        if cert is None
        else {
            "domains": list(cert.domains),
            "serial": cert.serial,
            "not_before": _time(cert.not_before),
            "not_after": _time(cert.not_after),
        },
        "domains": {
            name: {
                "valid_until": _time(s.valid_until),
                "last_attempt": _time(s.last_attempt),
                "last_success": _time(s.last_success),
                "last_error": s.last_error,
                "error_code": s.error_code,
                "failures": s.failures,
                "next_attempt": _time(s.next_attempt),
                "attempts_day": s.attempts_day.isoformat() if s.attempts_day else None,
                "attempts": s.attempts,
            }
            for name, s in sorted(state.domains.items())
        },
    }


def state_from_json(
    app: str, document: Mapping[str, Any], certificate: CertificateInfo | None
) -> CertificateState:
    """Read status.json back; unknown or broken fields fall back to their defaults."""
    domains: dict[str, DomainStatus] = {}
    raw_domains = document.get("domains")
    for name, raw in (raw_domains if isinstance(raw_domains, dict) else {}).items():
        if not isinstance(raw, dict):
            continue
        day = raw.get("attempts_day")
        domains[str(name)] = DomainStatus(
            valid_until=_parse_time(raw.get("valid_until")),
            last_attempt=_parse_time(raw.get("last_attempt")),
            last_success=_parse_time(raw.get("last_success")),
            last_error=raw.get("last_error") if isinstance(raw.get("last_error"), str) else None,
            error_code=raw.get("error_code") if isinstance(raw.get("error_code"), str) else None,
            failures=int(raw.get("failures") or 0),
            next_attempt=_parse_time(raw.get("next_attempt")),
            attempts_day=date.fromisoformat(day) if isinstance(day, str) and day else None,
            attempts=int(raw.get("attempts") or 0),
        )
    return CertificateState(
        app=app,
        certificate=certificate,
        domains=domains,
        https_redirect=document.get("https_redirect") is not False,
    )
