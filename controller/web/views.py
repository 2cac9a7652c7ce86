"""What the GUI's pages show, gathered from the services (the same ones the API calls)."""

from dataclasses import dataclass
from datetime import UTC, datetime

from controller.domain.access import Principal
from controller.domain.models import Deploy, DeployStatus
from controller.services.apps import AppDetails, AppOverview, ReleaseView
from controller.services.certificates import DomainCertificate
from controller.web.views_app import AppExtras, app_extras
from controller.wiring import Services

RECENT_DEPLOYS = 10


@dataclass(frozen=True)
class AppRow:
    """One line of the dashboard."""

    name: str
    state: str
    domains: tuple[str, ...]
    release: int | None
    last_deploy: Deploy | None
    containers: int
    certificates: tuple[
        DomainCertificate, ...
    ]  # each domain's URL and certificate, in the order of `domains`


@dataclass(frozen=True)
class AppPage:
    """Everything the app page shows."""

    details: AppDetails
    state: str
    releases: list[ReleaseView]
    config: dict[str, str]
    deploys: list[Deploy]
    running: Deploy | None  # the deploy in progress, whose log streams on the page
    extras: AppExtras  # domains with their certificates, the git side (views_app)


def gui_state(status: str, last: Deploy | None) -> str:
    """The app's state as the GUI names it: a deploy in progress or a failed last deploy
    says more than the containers do; otherwise the containers' state."""
    if last is not None and not last.status.is_final:
        return "deploying"
    if status == "not-deployed":
        return "no release"
    if last is not None and last.status == DeployStatus.FAILED and status in ("running", "unknown"):
        return "failed"
    return status


def _row(services: Services, overview: AppOverview, last: Deploy | None) -> AppRow:
    app = overview.app
    return AppRow(
        certificates=services.certificates.domain_certificates(app.name, app.domains),
        name=app.name,
        state=gui_state(overview.status, last),
        domains=app.domains,
        release=app.current_release,
        last_deploy=last,
        containers=overview.running,
    )


def dashboard_row(services: Services, name: str) -> AppRow:
    """One app's row, for a live update of that app alone. Raises NotFound."""
    (overview,) = services.apps.overview(only=name)
    last = services.history.of_app(name, limit=1)
    return _row(services, overview, last[0] if last else None)


def dashboard_rows(services: Services, query: str = "", principal: Principal | None = None) -> list[AppRow]:
    """Every app `principal` may see (whose name or a domain contains `query`), by name.

    Two reads whatever the number of apps: one container listing and one query for the
    last deploys (a row per app of each cost 200 Docker calls for 200 apps).
    """
    needle = query.strip().lower()
    last_deploys = services.history.last_of_each_app()
    rows = []
    for overview in sorted(services.apps.overview(), key=lambda o: o.app.name):
        app = overview.app
        if principal is not None and not principal.may_use(app.name):
            continue
        if needle and needle not in app.name and not any(needle in d for d in app.domains):
            continue
        rows.append(_row(services, overview, last_deploys.get(app.name)))
    return rows


def app_page(services: Services, name: str) -> AppPage:
    """Raises NotFound / InvalidInput for no such app."""
    details = services.apps.details(name)
    deploys = services.history.of_app(name, limit=RECENT_DEPLOYS)
    running = next((d for d in deploys if not d.status.is_final), None)
    return AppPage(
        details=details,
        state=gui_state(details.status, deploys[0] if deploys else None),
        releases=services.apps.releases(name),
        config=services.apps.config(name, reveal=False),
        deploys=deploys,
        running=running,
        extras=app_extras(services, name),
    )


def age(moment: datetime | None, *, now: datetime | None = None) -> str:
    """'12 s ago', '5 min ago', '3 h ago', '2 d ago'."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"
