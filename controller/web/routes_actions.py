"""GUI forms that change things: each POST carries the session's CSRF token, calls the same
service as the API (same validation), then redirects (303) or shows the page again with the
error next to the control that caused it."""

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from controller.api.deps import ServicesDep
from controller.api.errors import http_status
from controller.domain.access import Action
from controller.domain.errors import DockyardError, InvalidInput
from controller.domain.names import validate_env_key, validate_env_value, validate_process_count
from controller.web.deps import FormDep, PrincipalDep, needs, no_app
from controller.web.render import error_page, render
from controller.web.views import app_page, dashboard_rows

router = APIRouter(include_in_schema=False)
OPERATE = [Depends(needs(Action.OPERATE))]
ADMINISTER = [Depends(needs(Action.ADMINISTER, app=no_app))]


def _int_field(form: dict[str, str], field: str, what: str) -> int:
    value = form.get(field, "").strip()
    if not value.lstrip("-").isdigit():
        raise InvalidInput(f"{what} must be a whole number")
    return int(value)


@dataclass(frozen=True)
class AppForm:
    """A posted form of one app's page."""

    request: Request
    services: ServicesDep
    name: str
    form: dict[str, str]

    def field(self, name: str) -> str:
        return self.form.get(name, "").strip()

    def apply(self, control: str, change: Callable[[], object]) -> Response:
        """Run `change` on the existing app; back to its page (303), or the page again with
        the error next to `control` (a page of its own when the app does not exist)."""
        try:
            self.services.apps.get(self.name)
            change()
        except DockyardError as exc:
            try:
                page = app_page(self.services, self.name)
            except DockyardError as missing:
                return error_page(self.request, http_status(missing), str(missing))
            return render(
                self.request,
                "app.html",
                status_code=http_status(exc),
                page=page,
                errors={control: str(exc)},
                form=self.form,
            )
        return RedirectResponse(f"/apps/{self.name}", status_code=303)


@router.post("/apps", dependencies=ADMINISTER)
def create_app(request: Request, services: ServicesDep, principal: PrincipalDep, form: FormDep) -> Response:
    name = form.get("name", "").strip()
    try:
        services.apps.create(name)
    except DockyardError as exc:
        rows = dashboard_rows(services, "", principal)
        return render(
            request,
            "dashboard.html",
            status_code=http_status(exc),
            rows=rows,
            query="",
            errors={"create": str(exc)},
            form=form,
        )
    return RedirectResponse(f"/apps/{name}", status_code=303)


@router.post("/apps/{name}/config", dependencies=OPERATE)
def set_config(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    post = AppForm(request, services, name, form)

    def change() -> None:
        key = validate_env_key(post.field("key"))
        value = validate_env_value(key, form.get("value", ""))
        services.deploys.submit_config_change(name, set_={key: value}, unset=[]).result()

    return post.apply("config", change)


@router.post("/apps/{name}/config/unset", dependencies=OPERATE)
def unset_config(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    post = AppForm(request, services, name, form)
    return post.apply(
        "config",
        lambda: services.deploys.submit_config_change(
            name, set_={}, unset=[validate_env_key(post.field("key"))]
        ).result(),
    )


@router.post("/apps/{name}/domains", dependencies=OPERATE)
def add_domain(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    post = AppForm(request, services, name, form)
    return post.apply("domains", lambda: services.apps.add_domain(name, post.field("domain")))


@router.post("/apps/{name}/domains/remove", dependencies=OPERATE)
def remove_domain(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    post = AppForm(request, services, name, form)
    return post.apply("domains", lambda: services.apps.remove_domain(name, post.field("domain")))


@router.post("/apps/{name}/scale", dependencies=OPERATE)
def scale(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    post = AppForm(request, services, name, form)

    def change() -> None:
        web = validate_process_count("web", _int_field(form, "web", "the number of web containers"))
        services.deploys.request_scale(name, web=web)

    return post.apply("scale", change)


@router.post("/apps/{name}/restart", dependencies=OPERATE)
def restart(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    post = AppForm(request, services, name, form)
    return post.apply("restart", lambda: services.deploys.request_restart(name))


@router.post("/apps/{name}/rollback", dependencies=OPERATE)
def rollback(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    post = AppForm(request, services, name, form)
    return post.apply(
        "releases",
        lambda: services.deploys.request_rollback(
            name, to=_int_field(form, "to", "the release to roll back to")
        ),
    )
