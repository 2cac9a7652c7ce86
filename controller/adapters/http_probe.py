"""The `Prober` port: one cheap HTTP GET per health-check attempt, with the stdlib client."""

import http.client
from urllib.parse import urlsplit

from controller.domain.models import HEALTH_CHECK_USER_AGENT

USER_AGENT = HEALTH_CHECK_USER_AGENT


class NoHttpAnswer(ConnectionError):
    """Something answered, but not with HTTP (or the connection broke mid-answer)."""


class HttpProber:
    """GETs a URL on a fresh connection and reports the status code; redirects are not followed."""

    def http_status(self, url: str, *, timeout: float) -> int:
        """Return the HTTP status of GET `url`.

        Raises:
            OSError: no HTTP answer came (refused, timed out, reset, or not HTTP).
            ValueError: `url` is not an http(s) URL.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname, parts.port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", target, headers={"User-Agent": USER_AGENT, "Connection": "close"})
            return connection.getresponse().status
        except http.client.HTTPException as exc:
            raise NoHttpAnswer(f"no HTTP answer from {url}: {exc!r}") from exc
        finally:
            connection.close()
