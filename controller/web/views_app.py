"""What the app page shows beyond the basics: domains with their certificate, the git side
(remotes, webhook URLs, deliveries; never the secret unless asked), and live figures (on
their own page and fragment: sampling every container is not paid for by each app page)."""

from dataclasses import dataclass

from controller.domain.errors import DockyardError
from controller.domain.git_records import WebhookDelivery
from controller.services.certificates import DomainCertificate
from controller.services.stats import AppStats
from controller.wiring import Services

MIB = 2**20


@dataclass(frozen=True)
class GitView:
    """The app's git side, minus its secrets."""

    branch: str
    repo_url: str | None
    ssh_remote: str
    http_remote: str
    webhook_urls: dict[str, str]
    deliveries: tuple[WebhookDelivery, ...]


@dataclass(frozen=True)
class ContainerFigures:
    name: str
    state: str
    cpu_percent: float | None
    memory_mib: float | None
    memory_limit_mib: float | None
    restarts: int


@dataclass(frozen=True)
class StatsView:
    """Live figures as numbers (app.js draws the charts from them)."""

    containers: tuple[ContainerFigures, ...]
    requests_per_second: float | None
    errors_per_second: float | None
    error: str | None = None  # Docker did not answer: said in words instead of figures


@dataclass(frozen=True)
class AppExtras:
    domains: tuple[DomainCertificate, ...]
    git: GitView | None
    git_error: str | None


def git_view(services: Services, name: str) -> GitView:
    info = services.git.sources.info(name)
    return GitView(
        branch=info.source.branch,
        repo_url=info.source.repo_url,
        ssh_remote=info.ssh_remote,
        http_remote=info.http_remote,
        webhook_urls=info.webhook_urls,
        deliveries=info.deliveries,
    )


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / MIB, 1)


def figures_of(stats: AppStats) -> StatsView:
    return StatsView(
        containers=tuple(
            ContainerFigures(
                name=c.container.name,
                state=c.container.state,
                cpu_percent=None if c.usage.cpu_percent is None else round(c.usage.cpu_percent, 1),
                memory_mib=_mib(c.usage.memory_used),
                memory_limit_mib=_mib(c.usage.memory_limit),
                restarts=c.container.restart_count,
            )
            for c in stats.containers
        ),
        requests_per_second=stats.requests_per_second,
        errors_per_second=stats.errors_per_second,
    )


def stats_view(services: Services, name: str) -> StatsView:
    """The app's figures now; when Docker does not answer, the reason instead (the page still shows).

    Raises NotFound / InvalidInput for no such app."""
    services.apps.get(name)
    try:
        return figures_of(services.stats.of(name))
    except DockyardError as exc:
        return StatsView(containers=(), requests_per_second=None, errors_per_second=None, error=str(exc))


def app_extras(services: Services, name: str) -> AppExtras:
    git: GitView | None = None
    git_error: str | None = None
    try:
        git = git_view(services, name)
    except DockyardError as exc:
        git_error = str(exc)
    return AppExtras(
        domains=services.certificates.domains(name),
        git=git,
        git_error=git_error,
    )
