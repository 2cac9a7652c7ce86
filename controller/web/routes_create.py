"""Create an app the way Coolify users start: a name, then either a git repository (deployed at
once, its build log on screen, the webhook URL to paste into the provider) or an empty app to
push to. Then the app's setup page: remotes, webhooks, deploy key and the latest build's log.

Every field is checked with the API's rules (the same services) before anything is made, so a
refused form changes nothing; the errors appear next to their fields.
"""

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from controller.api.auth import AUDIT_APP
from controller.api.deps import ServicesDep
from controller.api.errors import http_status
from controller.api.follow import deploy_log_lines
from controller.domain.access import Action
from controller.domain.errors import Conflict, DockyardError, InvalidInput, NotFound
from controller.domain.git_refs import DEFAULT_BRANCH, validate_branch_name
from controller.domain.models import Deploy
from controller.domain.names import validate_app_name
from controller.services.git_sources import GitInfo
from controller.web.deps import FormDep, PrincipalDep, needs, no_app
from controller.web.render import render
from controller.wiring import Services

router = APIRouter(include_in_schema=False)
ADMINISTER = [Depends(needs(Action.ADMINISTER, app=no_app))]
OPERATE = [Depends(needs(Action.OPERATE))]
SOURCES = ("repo", "empty")
EXAMPLE_URL = "https://github.com/you/app.git"
SHOWN = "shown"  # ?secret=shown: the setup page with the webhook secret
TOKEN_MAX = 4096  # as the API's SourceUpdate
NEW_FORM = {"source": "repo", "branch": DEFAULT_BRANCH}


@dataclass(frozen=True)
class NewApp:
    """A create form whose fields passed the API's checks."""

    name: str
    repo_url: str | None  # None: an empty app
    branch: str
    token: str | None
    deploy_key: bool  # an ssh URL: the key must be added at the git host before a deploy


class FormErrors(Exception):
    """Fields of the create form that were refused: message per field, and the answer's status."""

    def __init__(self, errors: dict[str, str], status: int) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


def check_new_app(services: Services, form: dict[str, str]) -> NewApp:
    """The form's fields with the rules `POST /apps` and `PUT /apps/{name}/source` apply.

    Raises FormErrors with every refused field (not only the first)."""
    errors: dict[str, str] = {}
    statuses: list[int] = []

    def refuse(field: str, error: DockyardError) -> None:
        errors.setdefault(field, str(error))
        statuses.append(http_status(error))

    name = form.get("name", "").strip()
    try:
        validate_app_name(name)
        services.apps.get(name)
        refuse("name", Conflict(f"an app named {name} already exists"))
    except NotFound:
        pass
    except DockyardError as exc:
        refuse("name", exc)
    source = form.get("source", "repo")
    if source not in SOURCES:
        refuse("source", InvalidInput("choose a git repository or an empty app"))
    branch = form.get("branch", "").strip() or DEFAULT_BRANCH
    try:
        validate_branch_name(branch)
    except DockyardError as exc:
        refuse("branch", exc)
    repo_url = form.get("repo_url", "").strip()
    token = form.get("token", "").strip() or None
    deploy_key = False
    if token is not None and len(token) > TOKEN_MAX:
        refuse("token", InvalidInput(f"the token is longer than {TOKEN_MAX} characters"))
    if source == "repo":
        if not repo_url:
            refuse("repo_url", InvalidInput("give the repository's URL, or choose an empty app"))
        else:
            try:
                deploy_key = services.git.sources.check_repo_url(repo_url)
            except DockyardError as exc:
                refuse("repo_url", exc)
            else:
                try:
                    services.git.sources.check_repo_url(repo_url, token=token)
                except DockyardError as exc:
                    refuse("token", exc)
    if errors:
        raise FormErrors(errors, max(statuses))
    if source == "empty":
        return NewApp(name=name, repo_url=None, branch=branch, token=None, deploy_key=False)
    return NewApp(name=name, repo_url=repo_url, branch=branch, token=token, deploy_key=deploy_key)


def create_new_app(services: Services, new: NewApp, actor: str) -> Deploy | None:
    """Make the app and its source, and queue its first build when it can be fetched now.

    Raises FormErrors when the service still refuses the name (its default domain is taken)
    or the source (checked already); a refused source takes the app away again."""
    try:
        services.apps.create(new.name)
    except DockyardError as exc:
        raise FormErrors({"name": str(exc)}, http_status(exc)) from exc
    try:
        services.git.sources.set_source(new.name, repo_url=new.repo_url, branch=new.branch, token=new.token)
    except DockyardError as exc:
        services.apps.destroy(new.name)
        raise FormErrors({"repo_url": str(exc)}, http_status(exc)) from exc
    if new.repo_url is None or new.deploy_key:
        return None
    return services.git.redeploy.redeploy(new.name, actor=actor)


@router.get("/new", dependencies=ADMINISTER)
def new_app_page(request: Request) -> HTMLResponse:
    return render(request, "create.html", errors={}, form=NEW_FORM, example_url=EXAMPLE_URL)


@router.post("/new", dependencies=ADMINISTER)
def new_app(request: Request, services: ServicesDep, principal: PrincipalDep, form: FormDep) -> Response:
    try:
        new = check_new_app(services, form)
        setattr(request.state, AUDIT_APP, new.name)  # the audit row names the app made
        create_new_app(services, new, principal.name)
    except FormErrors as refused:
        return render(
            request,
            "create.html",
            status_code=refused.status,
            errors=refused.errors,
            form=form,
            example_url=EXAMPLE_URL,
        )
    return RedirectResponse(f"/apps/{new.name}/setup", status_code=303)


@dataclass(frozen=True)
class SetupPage:
    """What the setup page shows of an app: its git side and its latest deploy with its log."""

    name: str
    urls: list[str]
    git: GitInfo
    deploy: Deploy | None
    lines: list[str]


async def setup_page(services: Services, name: str) -> SetupPage:
    """Raises NotFound / InvalidInput for no such app."""
    app = await run_in_threadpool(services.apps.get, name)
    info = await run_in_threadpool(services.git.sources.info, app.name)
    urls = await run_in_threadpool(services.apps.urls, app.name)
    latest = await run_in_threadpool(services.history.of_app, app.name, limit=1)
    deploy = latest[0] if latest else None
    lines: list[str] = []
    if deploy is not None:
        async for batch in deploy_log_lines(services.logs, deploy.id, follow=False):
            lines.extend(batch)
    return SetupPage(name=app.name, urls=urls, git=info, deploy=deploy, lines=lines)


@router.get("/apps/{name}/setup", dependencies=OPERATE)
async def setup(request: Request, name: str, services: ServicesDep, secret: str = "") -> HTMLResponse:
    """Remotes, webhook URLs (the secret only when asked), deploy key, latest build's log."""
    page = await setup_page(services, name)
    return render(request, "setup.html", page=page, show_secret=secret == SHOWN)
