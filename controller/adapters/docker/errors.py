"""docker-py and transport errors translated into domain errors, at the adapter's edge."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import docker.errors
import requests
import urllib3.exceptions

from controller.domain.errors import Conflict, DockyardError, NotFound, RuntimeUnavailable

VERSION_FETCH_FAILED = "Error while fetching server API version"
TRANSPORT_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)


@contextmanager
def translated_errors(on_unreachable: Callable[[], None]) -> Iterator[None]:
    """Translate docker-py and transport errors into domain errors.

    `on_unreachable` runs before RuntimeUnavailable is raised (to drop a dead client).
    """
    try:
        yield
    except docker.errors.NotFound as exc:
        raise NotFound(explain(exc)) from exc
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            raise Conflict(explain(exc)) from exc
        raise DockyardError(f"Docker refused the request: {explain(exc)}") from exc
    except TRANSPORT_ERRORS as exc:
        on_unreachable()
        raise RuntimeUnavailable(f"Docker daemon is not reachable: {exc}") from exc
    except docker.errors.DockerException as exc:
        if VERSION_FETCH_FAILED in str(exc):
            on_unreachable()
            raise RuntimeUnavailable(f"Docker daemon is not reachable: {exc}") from exc
        raise DockyardError(f"Docker error: {exc}") from exc


def explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


def removal_in_progress(exc: docker.errors.APIError) -> bool:
    return exc.status_code == 409 and "already in progress" in explain(exc)
