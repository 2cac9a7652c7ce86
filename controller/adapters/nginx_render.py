"""Pure rendering of the nginx config from proxy_templates/nginx, refusing any unsafe value.

Names are validated upstream already; this module checks again with its own strict
patterns (defense in depth), so a value carrying nginx syntax (`;`, `{`, spaces,
newlines, wildcards) never reaches a file.
"""

import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import jinja2

from controller.domain.errors import ProxyConfigRejected
from controller.domain.models import Site, SiteTls
from controller.domain.names import DNS_LABEL, is_hostname

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "proxy_templates" / "nginx"
MAIN_TEMPLATE = "nginx.conf.j2"
SITES_TEMPLATE = "sites.conf.j2"
UPSTREAM_PREFIX = "dockyard_app_"
HTTPS_DEFAULT_PORT = 443

_APP_RE = re.compile(DNS_LABEL)
_BACKEND_RE = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,3}){3}):([0-9]{1,5})")
_PREFIX_RE = re.compile(r"/[A-Za-z0-9/._-]*")


@dataclass(frozen=True)
class NginxTunables:
    """Every knob of the generated config (Dokku style); each default suits a small VPS.

    Durations are whole seconds, sizes KiB (`_k`) or MiB (`_m`): integers only, so no
    tunable can smuggle syntax into the config either.
    """

    worker_processes: int | None = None  # None renders "auto": one worker per CPU
    worker_connections: int = 4096
    worker_shutdown_timeout: int = 30  # keep in line with DOCKYARD_DRAIN_TIMEOUT
    client_keepalive_timeout: int = 65
    server_names_hash_max_size: int = 16384
    server_names_hash_bucket_size: int = 512  # a 253-character domain needs > 256
    upstream_keepalive: int = 32
    proxy_connect_timeout: int = 5
    # With more than one backend: they are containers on a local bridge, so one that has not
    # answered a SYN within a second is gone (a killed container's address swallows SYNs
    # until ARP gives up), and nginx tries the next. At 5 s two dead backends outlasted
    # clients' patience. A lone backend keeps the longer wait: SYNs retried after 1 s reach
    # a container that Docker restarted meanwhile, so the request succeeds late, not fails.
    proxy_failover_connect_timeout: int = 1
    # With more than one backend, seconds nginx (each worker) leaves a backend alone after a
    # failed connection to it. nginx's 10 s default shunned a replica that Docker had
    # restarted within a second, so a crash of the other replica in those 10 s was an outage
    # with a healthy replica running. A backend still dead costs one failed attempt (and the
    # next backend) per worker per this many seconds.
    upstream_fail_timeout: int = 1
    proxy_send_timeout: int = 60
    proxy_read_timeout: int = 60
    proxy_buffer_size_k: int = 16
    client_max_body_size_m: int = 64  # 0 = unlimited
    retry_after: int = 5
    access_log: bool = False

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "access_log":
                if not isinstance(value, bool):
                    raise ValueError("access_log must be a bool")
            elif value is None and field.name == "worker_processes":
                continue
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"nginx tunable {field.name} must be a non-negative int, got {value!r}")

    def context(self) -> dict[str, object]:
        """The template variables these tunables define."""
        values: dict[str, object] = asdict(self)
        values["worker_processes"] = self.worker_processes or "auto"
        values["worker_rlimit_nofile"] = 2 * self.worker_connections + 1024
        return values


DEFAULT_TUNABLES = NginxTunables()


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=False,  # noqa: S701 - nginx config, not HTML; every value is validated first
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def check_domain(domain: str) -> str:
    """Return `domain` if it is a lowercase hostname safe for `server_name`, else raise."""
    if not is_hostname(domain):
        raise ProxyConfigRejected(f"refusing to render unsafe domain {domain!r}")
    return domain


def check_app_name(app: str) -> str:
    """Return `app` if it is safe inside an upstream name, else raise."""
    if not isinstance(app, str) or not _APP_RE.fullmatch(app):
        raise ProxyConfigRejected(f"refusing to render unsafe app name {app!r}")
    return app


def check_backend(backend: str) -> str:
    """Return `backend` if it is `IPv4:port` with a usable address and port, else raise."""
    match = _BACKEND_RE.fullmatch(backend) if isinstance(backend, str) else None
    try:
        valid = (
            match is not None
            and not ipaddress.IPv4Address(match[1]).is_unspecified
            and 1 <= int(match[2]) <= 65535
        )
    except ValueError:  # octets above 255 or with leading zeros
        valid = False
    if not valid:
        raise ProxyConfigRejected(f"refusing to render unsafe backend {backend!r}")
    return backend


def format_listen(listen_addr: str, http_port: int) -> str:
    """The `listen` argument for an IP address and port ("[::]:80" for IPv6)."""
    try:
        address = ipaddress.ip_address(listen_addr)
    except ValueError as error:
        raise ValueError(f"listen address must be an IP address, got {listen_addr!r}") from error
    if isinstance(http_port, bool) or not isinstance(http_port, int) or not 1 <= http_port <= 65535:
        raise ValueError(f"invalid HTTP port {http_port!r}")
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{host}:{http_port}"


def check_prefix(prefix: Path) -> Path:
    """Return `prefix` if it is an absolute path nginx can read unquoted, else raise."""
    if not _PREFIX_RE.fullmatch(str(prefix)):
        raise ValueError(f"nginx prefix must be an absolute path of [A-Za-z0-9/._-], got {str(prefix)!r}")
    return prefix


def render_main(
    *,
    prefix: Path,
    listen_addr: str,
    http_port: int,
    tunables: NginxTunables = DEFAULT_TUNABLES,
    templates_dir: Path = TEMPLATES_DIR,
    acme_webroot: Path | None = None,
) -> str:
    """Render nginx.conf: process settings, paths under `prefix`, the 404 default server.

    With `acme_webroot`, the default server answers ACME http-01 challenges from it.
    """
    template = _environment(templates_dir).get_template(MAIN_TEMPLATE)
    return template.render(
        prefix=str(check_prefix(prefix)),
        listen=format_listen(listen_addr, http_port),
        acme_webroot=str(check_prefix(acme_webroot)) if acme_webroot else None,
        **tunables.context(),
    )


@dataclass(frozen=True)
class _CheckedSite:
    """A Site whose every value passed the checks, as the sites template sees it."""

    app: str
    upstream: str
    domains: tuple[str, ...]
    backends: tuple[str, ...]
    plain_domains: tuple[str, ...] = ()  # served over HTTP
    redirect_domains: tuple[str, ...] = ()  # HTTP redirects them to HTTPS
    tls_domains: tuple[str, ...] = ()  # served over HTTPS with cert_path/key_path
    cert_path: str | None = None
    key_path: str | None = None


def check_file_path(path: str) -> str:
    """Return `path` if it is an absolute path nginx can read unquoted (as the prefix), else raise."""
    if not isinstance(path, str) or not _PREFIX_RE.fullmatch(path):
        raise ProxyConfigRejected(f"refusing to render unsafe path {path!r}")
    return path


def _checked_tls(tls: SiteTls | None, domains: tuple[str, ...]) -> tuple[tuple[str, ...], str, str] | None:
    if tls is None:
        return None
    covered = tuple(check_domain(domain) for domain in tls.domains)
    if any(domain not in domains for domain in covered):
        raise ProxyConfigRejected("a certificate names a domain its site does not have")
    if not covered:
        return None
    return covered, check_file_path(tls.cert_path), check_file_path(tls.key_path)


def _checked_site(site: Site) -> _CheckedSite:
    app = check_app_name(site.app)
    domains = tuple(check_domain(domain) for domain in site.domains)
    backends = tuple(dict.fromkeys(check_backend(backend) for backend in site.backends))
    tls = _checked_tls(site.tls, domains)
    if tls is None or site.tls is None:
        return _CheckedSite(app, UPSTREAM_PREFIX + app, domains, backends, plain_domains=domains)
    tls_domains, cert_path, key_path = tls
    redirect = tls_domains if site.tls.redirect else ()
    return _CheckedSite(
        app=app,
        upstream=UPSTREAM_PREFIX + app,
        domains=domains,
        backends=backends,
        plain_domains=tuple(domain for domain in domains if domain not in redirect),
        redirect_domains=redirect,
        tls_domains=tls_domains,
        cert_path=cert_path,
        key_path=key_path,
    )


def render_sites(
    sites: Sequence[Site],
    *,
    listen_addr: str,
    http_port: int,
    tunables: NginxTunables = DEFAULT_TUNABLES,
    templates_dir: Path = TEMPLATES_DIR,
    overrides_dir: Path | None = None,
    https_port: int = 443,
    acme_webroot: Path | None = None,
    reject_unknown_tls: bool = True,
    access_log_dir: Path | None = None,
) -> str:
    """Render sites.conf: an upstream and a server per app; apps without domains are skipped.

    With `overrides_dir`, each app's server block includes `overrides_dir/<app>/*.conf`,
    where an operator can add directives of their own (Dokku's nginx.conf.d).

    A site with a certificate (`Site.tls`) also gets an HTTPS server on `https_port`, and
    its HTTP server redirects the covered names there unless the site opted out. With
    `acme_webroot`, every HTTP server answers `/.well-known/acme-challenge/` from it first.
    `reject_unknown_tls` adds a default HTTPS server refusing names no certificate covers
    (needs nginx >= 1.19.4; without it, such names get the first app's certificate).
    With `access_log_dir`, each app's requests are logged to `access_log_dir/<app>.access.log`.

    Raises:
        ProxyConfigRejected: a name, domain or backend is unsafe, or an app or domain repeats.
    """
    checked = sorted((_checked_site(site) for site in sites), key=lambda site: site.app)
    seen_apps: set[str] = set()
    seen_domains: set[str] = set()
    for site in checked:
        if site.app in seen_apps:
            raise ProxyConfigRejected(f"app {site.app!r} appears twice")
        seen_apps.add(site.app)
        for domain in site.domains:
            if domain in seen_domains:
                raise ProxyConfigRejected(f"domain {domain!r} is claimed by two sites")
            seen_domains.add(domain)
    template = _environment(templates_dir).get_template(SITES_TEMPLATE)
    served = [site for site in checked if site.domains]
    return template.render(
        listen=format_listen(listen_addr, http_port),
        sites=served,
        overrides_dir=check_prefix(overrides_dir) if overrides_dir else None,
        listen_https=format_listen(listen_addr, https_port) if any(s.tls_domains for s in served) else None,
        https_port_suffix="" if https_port == HTTPS_DEFAULT_PORT else f":{https_port}",
        acme_webroot=str(check_prefix(acme_webroot)) if acme_webroot else None,
        reject_unknown_tls=reject_unknown_tls,
        access_log_dir=str(check_prefix(access_log_dir)) if access_log_dir else None,
        **tunables.context(),
    )
