"""Settings (admins): users, API tokens, SSH keys, the system's disk use and prune; and the
audit page (admins; developers see their apps' events). Every change goes through the same
service the API calls, with the same validation; an error is shown next to its control. A
generated password or a token's secret is shown on the one page that answers its creation."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from controller.api.deps import ServicesDep
from controller.api.errors import http_status
from controller.domain.access import Action, Role
from controller.domain.account_records import AuditQuery
from controller.domain.errors import DockyardError, NotFound
from controller.web.deps import FormDep, PrincipalDep, form_list, needs, no_app
from controller.web.render import render
from controller.wiring import Services

router = APIRouter(include_in_schema=False)
ADMIN = [Depends(needs(Action.ADMINISTER, app=no_app))]
ROLES = [role.value for role in Role]
AUDIT_LIMIT = 200
FILTER_MAX = 255


def _optional(form: dict[str, str], field: str) -> str | None:
    return form.get(field, "").strip() or None


def _users(services: Services) -> dict[str, Any]:
    return {"users": services.accounts.users.all(), "roles": ROLES}


def _tokens(services: Services) -> dict[str, Any]:
    tokens = sorted(services.accounts.tokens.all(), key=lambda t: (t.revoked_at is not None, t.name))
    return {"tokens": tokens, "users": services.accounts.users.all(), "roles": ROLES}


def _keys(services: Services) -> dict[str, Any]:
    return {"keys": services.git.keys.all(), "users": services.accounts.users.all()}


def _system(services: Services) -> dict[str, Any]:
    try:
        return {"disk": services.system.disk_usage(), "disk_error": None}
    except DockyardError as exc:
        return {"disk": None, "disk_error": str(exc)}


PAGES: dict[str, tuple[str, Callable[[Services], dict[str, Any]]]] = {
    "users": ("settings/users.html", _users),
    "tokens": ("settings/tokens.html", _tokens),
    "keys": ("settings/keys.html", _keys),
    "system": ("settings/system.html", _system),
}


def settings_page(
    request: Request,
    services: Services,
    page: str,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    **extra: Any,
) -> HTMLResponse:
    template, gather = PAGES[page]
    return render(
        request,
        template,
        status_code=status_code,
        tab=page,
        errors=errors or {},
        form=form or {},
        **gather(services),
        **extra,
    )


def change(
    request: Request,
    services: Services,
    page: str,
    control: str,
    form: dict[str, str],
    action: Callable[[], object],
) -> Response:
    """Run `action`; back to the page (303), or the page again with the error next to `control`."""
    try:
        action()
    except DockyardError as exc:
        return settings_page(
            request, services, page, status_code=http_status(exc), errors={control: str(exc)}, form=form
        )
    return RedirectResponse(f"/settings/{page}", status_code=303)


@router.get("/settings", dependencies=ADMIN)
def settings_index() -> Response:
    return RedirectResponse("/settings/users", status_code=303)


@router.get("/settings/{page}", dependencies=ADMIN)
def show_settings(request: Request, page: str, services: ServicesDep) -> HTMLResponse:
    if page not in PAGES:
        raise NotFound(f"there is no settings page {page!r}")
    return settings_page(request, services, page)


# Users


@router.post("/settings/users", dependencies=ADMIN)
def add_user(request: Request, services: ServicesDep, form: FormDep) -> Response:
    name = form.get("name", "").strip()
    try:
        user, password = services.accounts.users.add(
            name, role=form.get("role", ""), apps=form_list(form, "apps")
        )
    except DockyardError as exc:
        return settings_page(
            request, services, "users", status_code=http_status(exc), errors={"add": str(exc)}, form=form
        )
    return settings_page(request, services, "users", status_code=201, created=user, password=password)


@router.post("/settings/users/{user}/role", dependencies=ADMIN)
def set_role(request: Request, user: str, services: ServicesDep, form: FormDep) -> Response:
    return change(
        request,
        services,
        "users",
        f"user:{user}",
        form,
        lambda: services.accounts.users.update(user, role=form.get("role", ""), apps=form_list(form, "apps")),
    )


@router.post("/settings/users/{user}/password", dependencies=ADMIN)
def new_password(request: Request, user: str, services: ServicesDep, form: FormDep) -> Response:
    """A generated password, shown once; the user's sessions end."""
    try:
        password = services.accounts.users.set_password(user)
    except DockyardError as exc:
        return settings_page(
            request, services, "users", status_code=http_status(exc), errors={f"user:{user}": str(exc)}
        )
    return settings_page(request, services, "users", reset=user, password=password)


@router.post("/settings/users/{user}/remove", dependencies=ADMIN)
def remove_user(request: Request, user: str, services: ServicesDep, form: FormDep) -> Response:
    def remove() -> None:
        services.accounts.users.remove(user)
        services.git.keys.sync()  # its keys leave authorized_keys too

    return change(request, services, "users", f"user:{user}", form, remove)


# API tokens


@router.post("/settings/tokens", dependencies=ADMIN)
def create_token(request: Request, services: ServicesDep, form: FormDep) -> Response:
    try:
        token, secret = services.accounts.tokens.create(
            form.get("name", "").strip(),
            user=_optional(form, "user"),
            role=_optional(form, "role"),
            apps=form_list(form, "apps"),
            expires=_optional(form, "expires"),
        )
    except DockyardError as exc:
        return settings_page(
            request, services, "tokens", status_code=http_status(exc), errors={"create": str(exc)}, form=form
        )
    return settings_page(request, services, "tokens", status_code=201, created=token, secret=secret)


@router.post("/settings/tokens/{token}/revoke", dependencies=ADMIN)
def revoke_token(request: Request, token: str, services: ServicesDep, form: FormDep) -> Response:
    return change(
        request, services, "tokens", f"token:{token}", form, lambda: services.accounts.tokens.revoke(token)
    )


# SSH keys


@router.post("/settings/keys", dependencies=ADMIN)
def add_key(request: Request, services: ServicesDep, form: FormDep) -> Response:
    owner = _optional(form, "user")

    def add() -> None:
        if owner is not None:
            services.accounts.users.get(owner)  # NotFound for an unknown user
        services.git.keys.add(form.get("name", "").strip(), form.get("public_key", ""), owner=owner)

    return change(request, services, "keys", "add", form, add)


@router.post("/settings/keys/{key}/remove", dependencies=ADMIN)
def remove_key(request: Request, key: str, services: ServicesDep, form: FormDep) -> Response:
    return change(request, services, "keys", f"key:{key}", form, lambda: services.git.keys.remove(key))


# System


@router.post("/settings/system/prune", dependencies=ADMIN)
def prune(request: Request, services: ServicesDep, form: FormDep) -> Response:
    try:
        report = services.system.prune()
    except DockyardError as exc:
        return settings_page(
            request, services, "system", status_code=http_status(exc), errors={"prune": str(exc)}
        )
    return settings_page(request, services, "system", pruned=report)


# Audit


async def _query_app(request: Request, services: Services) -> str | None:
    return request.query_params.get("app") or None


@router.get("/audit", dependencies=[Depends(needs(Action.OPERATE, app=_query_app))])
def audit_page(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    app: str = "",
    user: str = "",
) -> HTMLResponse:
    """The audit log, newest first: admins see everything, others the events of their apps."""
    scope = principal.apps
    if principal.role is not Role.ADMIN and scope is None:
        scope = frozenset(a.name for a in services.apps.all())
    app, user = app.strip()[:FILTER_MAX], user.strip()[:FILTER_MAX]
    query = AuditQuery(app=app or None, actor=user or None, apps=scope, limit=AUDIT_LIMIT)
    return render(
        request,
        "audit.html",
        events=services.accounts.audit.query(query),
        app=app,
        user=user,
        limit=AUDIT_LIMIT,
    )
