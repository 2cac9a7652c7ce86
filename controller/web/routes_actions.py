"""GUI forms that change things: each POST carries the session's CSRF token, calls the same
service as the API (same validation), then redirects (303) or shows the page again with the
error next to the control that caused it."""

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from controller.api.deps import ServicesDep
from controller.api.errors import http_status
from controller.domain.errors import DockyardError, InvalidInput
from controller.domain.names import validate_env_key, validate_env_value, validate_process_count
from controller.web.deps import FormDep
from controller.web.render import error_page, render
from controller.web.views import app_page, dashboard_rows

router = APIRouter(include_in_schema=False)


def _int_field(form: dict[str, str], field: str, what: str) -> int:
    value = form.get(field, "").strip()
    if not value.lstrip("-").isdigit():
        raise InvalidInput(f"{what} must be a whole number")
    return int(value)


def _on_app(
    request: Request,
    services: ServicesDep,
    name: str,
    form: dict[str, str],
    control: str,
    change: Callable[[], object],
) -> Response:
    """Run `change`; back to the app page, or the page again with the error at `control`."""
    try:
        change()
    except DockyardError as exc:
        try:
            page = app_page(services, name)
        except DockyardError as missing:
            return error_page(request, http_status(missing), str(missing))
        return render(
            request,
            "app.html",
            status_code=http_status(exc),
            page=page,
            errors={control: str(exc)},
            form=form,
        )
    return RedirectResponse(f"/apps/{name}", status_code=303)


@router.post("/apps")
def create_app(request: Request, services: ServicesDep, form: FormDep) -> Response:
    name = form.get("name", "").strip()
    try:
        services.apps.create(name)
    except DockyardError as exc:
        rows = dashboard_rows(services)
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


@router.post("/apps/{name}/config")
def set_config(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    def change() -> None:
        key = validate_env_key(form.get("key", "").strip())
        value = validate_env_value(key, form.get("value", ""))
        services.apps.get(name)
        services.deploys.request_config_change(name, set_={key: value}, unset=[])

    return _on_app(request, services, name, form, "config", change)


@router.post("/apps/{name}/config/unset")
def unset_config(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    def change() -> None:
        key = validate_env_key(form.get("key", ""))
        services.apps.get(name)
        services.deploys.request_config_change(name, set_={}, unset=[key])

    return _on_app(request, services, name, form, "config", change)


@router.post("/apps/{name}/domains")
def add_domain(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    return _on_app(
        request,
        services,
        name,
        form,
        "domains",
        lambda: services.apps.add_domain(name, form.get("domain", "").strip()),
    )


@router.post("/apps/{name}/domains/remove")
def remove_domain(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    return _on_app(
        request,
        services,
        name,
        form,
        "domains",
        lambda: services.apps.remove_domain(name, form.get("domain", "")),
    )


@router.post("/apps/{name}/scale")
def scale(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    def change() -> None:
        services.apps.get(name)
        web = validate_process_count("web", _int_field(form, "web", "the number of web containers"))
        services.deploys.request_scale(name, web=web)

    return _on_app(request, services, name, form, "scale", change)


@router.post("/apps/{name}/restart")
def restart(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    def change() -> None:
        services.apps.get(name)
        services.deploys.request_restart(name)

    return _on_app(request, services, name, form, "restart", change)


@router.post("/apps/{name}/rollback")
def rollback(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    def change() -> None:
        services.apps.get(name)
        services.deploys.request_rollback(name, to=_int_field(form, "to", "the release to roll back to"))

    return _on_app(request, services, name, form, "releases", change)
