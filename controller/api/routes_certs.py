"""Routes of an app's certificate: status, issue now, renew (forced), and the HTTPS redirect."""

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel

from controller.api.auth import requires
from controller.api.deps import ServicesDep
from controller.api.schemas import FromAttributes
from controller.domain.access import Action
from controller.domain.certificates import DomainStatus, attempts_today
from controller.services.certificates import CertificateReport, IssueResult

router = APIRouter(prefix="/api/v1/apps", tags=["certificates"])


class CertificatePublic(FromAttributes):
    domains: list[str]
    serial: str
    not_before: datetime
    not_after: datetime


class DomainCertPublic(BaseModel):
    domain: str
    https: bool
    valid_until: datetime | None
    last_attempt: datetime | None
    last_success: datetime | None
    last_error: str | None
    error_code: str | None
    failures: int
    next_attempt: datetime | None
    attempts_today: int

    @classmethod
    def of(cls, domain: str, status: DomainStatus, *, https: bool, now: datetime) -> "DomainCertPublic":
        return cls(
            domain=domain,
            https=https,
            valid_until=status.valid_until,
            last_attempt=status.last_attempt,
            last_success=status.last_success,
            last_error=status.last_error,
            error_code=status.error_code,
            failures=status.failures,
            next_attempt=status.next_attempt,
            attempts_today=attempts_today(status, now),
        )


class CertsPublic(BaseModel):
    app: str
    acme_enabled: bool
    https_redirect: bool
    certificate: CertificatePublic | None
    domains: list[DomainCertPublic]
    log: list[str]

    @classmethod
    def of(cls, report: CertificateReport) -> "CertsPublic":
        now = datetime.now(UTC)
        return cls(
            app=report.app,
            acme_enabled=report.acme_enabled,
            https_redirect=report.https_redirect,
            certificate=CertificatePublic.model_validate(report.certificate) if report.certificate else None,
            domains=[
                DomainCertPublic.of(domain, status, https=domain in report.served, now=now)
                for domain, status in report.domains
            ],
            log=list(report.log),
        )


class CertIssuePublic(CertsPublic):
    issued: bool
    reason: str
    errors: dict[str, str]
    job: str | None

    @classmethod
    def of_result(cls, result: IssueResult) -> "CertIssuePublic":
        base = CertsPublic.of(result.report).model_dump()
        return cls(**base, issued=result.issued, reason=result.reason, errors=result.errors, job=result.job)


class RedirectUpdate(BaseModel):
    enabled: bool


@router.get("/{name}/certs", response_model=CertsPublic, dependencies=[requires(Action.READ)])
def certificate_status(name: str, services: ServicesDep) -> CertsPublic:
    return CertsPublic.of(services.certificates.report(name))


@router.post("/{name}/certs/issue", response_model=CertIssuePublic, dependencies=[requires(Action.OPERATE)])
def issue_certificate(name: str, services: ServicesDep) -> CertIssuePublic:
    """Order a certificate now if any domain lacks one or it is due (ignores retry backoff)."""
    return CertIssuePublic.of_result(services.certificates.issue(name))


@router.post("/{name}/certs/renew", response_model=CertIssuePublic, dependencies=[requires(Action.OPERATE)])
def renew_certificate(name: str, services: ServicesDep, force: bool = False) -> CertIssuePublic:
    """Renew when due; with force=true, always order a new certificate."""
    return CertIssuePublic.of_result(services.certificates.issue(name, force=force))


@router.put("/{name}/certs/redirect", response_model=CertsPublic, dependencies=[requires(Action.OPERATE)])
def set_https_redirect(name: str, body: RedirectUpdate, services: ServicesDep) -> CertsPublic:
    """Turn the HTTP -> HTTPS redirect of the app's certified domains on or off."""
    return CertsPublic.of(services.certificates.set_redirect(name, body.enabled))
