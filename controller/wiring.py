"""The one place that turns settings into adapters and services, and starts and stops them."""

import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from controller.adapters.acme_issuer import AcmeIssuer
from controller.adapters.build_dirs import BuildDirs
from controller.adapters.cert_files import FileCertificateStore
from controller.adapters.docker.keeper import DockerKeeper
from controller.adapters.docker.runtime import DockerRuntime
from controller.adapters.event_journal import FileEventJournal
from controller.adapters.http_probe import HttpProber
from controller.adapters.logstore import FileDeployLogStore
from controller.adapters.nginx import TEMPLATES_DIR, NginxProxy
from controller.adapters.nginx_traffic import AccessLogMeter
from controller.adapters.secrets import Cipher
from controller.adapters.store.engine import make_sqlite_private
from controller.adapters.store.sql_store import SqlStore
from controller.adapters.store.upgrade import upgrade_database
from controller.domain.certificates import RenewalPolicy, served_domains
from controller.domain.credentials import check_secret_strength
from controller.domain.errors import InvalidInput, RuntimeUnavailable
from controller.domain.models import ContainerExit, Site
from controller.domain.names import DASHBOARD_SITE, validate_domain
from controller.services.account_ports import PasswordHasher
from controller.services.accounts import Accounts
from controller.services.app_state import AppStateWatch
from controller.services.apps import AppService
from controller.services.certificate_ports import CertificateIssuer, CertificateStore
from controller.services.certificates import CertificateService, site_tls_lookup
from controller.services.crashes import CrashLog
from controller.services.deploy_history import DeployHistory
from controller.services.deploy_logs import DeployLogHub
from controller.services.deploys import DeployService, PipelineSettings
from controller.services.events import EventBus, EventJournal
from controller.services.hygiene import Hygiene
from controller.services.keeper import ContainerStarter, Keeper, ServingSets
from controller.services.ports import DeployLogStore, Prober, Proxy, Runtime, Store, TrafficMeter
from controller.services.reconciler import Reconciler
from controller.services.routing import AddressFollower, Routing
from controller.services.stats import StatsService
from controller.services.system import SystemService
from controller.settings import Settings
from controller.wiring_accounts import build_accounts
from controller.wiring_git import GitComponents, build_git

logger = logging.getLogger(__name__)
RECOVERY_INTERVAL = 2.0
PRIVATE_DIR_MODE = 0o700


def check_admin_token(settings: Settings) -> str | None:
    """The configured bootstrap token (settings, else admin.token), or None when there is none yet.

    Raises:
        InvalidInput: the token is empty or too weak; the controller must not start with it.
    """
    if settings.admin_token is not None and settings.admin_token != "":
        return check_secret_strength(
            settings.admin_token,
            what="DOCKYARD_ADMIN_TOKEN",
            hint="set a random one (openssl rand -hex 32) or unset it to have one generated",
        )
    path = settings.admin_token_file
    if not path.exists():
        return None
    return check_secret_strength(
        path.read_text().strip(),
        what=str(path),
        hint="remove the file to have a new token generated at start, or write a random one into it",
    )


def load_admin_token(settings: Settings) -> str:
    """The bootstrap API token: from the settings, else from (or newly into) admin.token.

    Raises:
        InvalidInput: the token is empty or too weak (see `check_admin_token`).
    """
    configured = check_admin_token(settings)
    if configured is not None:
        return configured
    path = settings.admin_token_file
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


@dataclass(frozen=True)
class PublicUrls:
    """Turns an app's domains into the URLs users open: https:// where a certificate serves."""

    http_port: int
    https_port: int
    certs: CertificateStore

    def __call__(self, app: str, domains: Sequence[str]) -> list[str]:
        secure = set(served_domains(self.certs.load(app), domains))
        return [self.url(domain, domain in secure) for domain in domains]

    def url(self, domain: str, secure: bool) -> str:
        """The URL of `domain`: https:// when a certificate serves it (`secure`)."""
        scheme, port, default = ("https", self.https_port, 443) if secure else ("http", self.http_port, 80)
        return f"{scheme}://{domain}" + ("" if port == default else f":{port}")


@dataclass(frozen=True)
class Adapters:
    """The outside world the services drive, typed by their ports: the real adapters from
    `build_adapters`, or the fakes a test hands to `build_services`."""

    store: Store
    runtime: Runtime
    proxy: Proxy
    prober: Prober
    certs: CertificateStore
    issuer: CertificateIssuer | None  # None: no ACME, only certificates already on disk are served
    deploy_logs: DeployLogStore
    disk_used_percent: Callable[[], float] | None = None  # default: the data dir's file system
    event_journal: EventJournal | None = None  # None: the event history lives in memory only
    starter: ContainerStarter | None = None  # None: the reconciler repairs, it starts nothing in place
    passwords: PasswordHasher | None = None  # None: argon2id with its default cost
    traffic: TrafficMeter | None = None  # None: app stats carry no request rates


@dataclass
class Services:
    """Everything the API (and the GUI) talks to: services, and the ports they are built on.

    Routes call service methods only; `store`, `runtime` and `proxy` are here for starting
    and stopping the controller, and for tests to look at.
    """

    settings: Settings
    store: Store
    runtime: Runtime
    proxy: Proxy
    routing: Routing
    logs: DeployLogHub
    events: EventBus
    apps: AppService
    deploys: DeployService
    history: DeployHistory
    reconciler: Reconciler
    hygiene: Hygiene
    system: SystemService
    stats: StatsService
    admin_token: str
    certificates: CertificateService
    git: GitComponents
    crashes: CrashLog
    accounts: Accounts
    app_states: AppStateWatch
    keeper: Keeper | None = None
    adopted: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    addresses: AddressFollower = field(init=False)  # re-routes containers started at a new address

    def __post_init__(self) -> None:
        self.addresses = AddressFollower(self.routing)

    def start(self) -> None:
        """Adopt or start the proxy with what runs now, recover jobs, then reconcile."""
        self.accounts.start()
        if not self._adopt():
            logger.warning("Docker is not reachable; the proxy keeps its last config until it is")
        self.deploys.start()
        self.certificates.start(self.adopted)
        self.git.start()
        threading.Thread(target=self._recover_and_watch, name="dockyard-docker-watch", daemon=True).start()

    def _adopt(self) -> bool:
        try:
            if self.keeper is not None:
                # Serving containers stopped while no keeper ran: a start is quicker than a repair.
                self.keeper.restart_stopped(self.runtime.list_containers())
            self.routing.adopt_running()
            # Under the routing lock, from the map as it is then: a deploy that switched
            # routes since adoption is not undone by a config rendered before it.
            self.routing.ensure_proxy_current()
        except RuntimeUnavailable:
            self.proxy.ensure_running(None)
            return False
        self.adopted.set()
        return True

    def _recover_and_watch(self) -> None:
        """Adopt routes once Docker answers, then reconcile on a timer and on container deaths."""
        while not self.adopted.is_set() and not self._stopping.wait(RECOVERY_INTERVAL):
            if self._adopt():
                logger.info("Docker answers again; routes adopted")
        if self._stopping.is_set():
            return
        self.reconciler.start()
        self.app_states.start()
        self.addresses.start()
        self.runtime.watch_deaths(self._on_death, self._stopping, on_start=self.addresses.container_started)

    def _on_death(self, exit_: ContainerExit) -> None:
        self.crashes.record(exit_)
        if exit_.app:
            self.events.publish(
                "container",
                app=exit_.app,
                action="crashed" if exit_.crashed else "stopped",
                container=exit_.container,
                release=exit_.release,
                process=exit_.process,
                exit_code=exit_.exit_code,
            )
        self.reconciler.poke()

    def stop(self) -> None:
        """Stop taking jobs; nginx and the app containers keep serving."""
        self._stopping.set()
        self.git.stop()
        self.certificates.stop()
        self.reconciler.stop()
        self.addresses.stop()
        self.app_states.stop()
        self.deploys.stop()
        self.accounts.stop()


def prepare_data_dir(settings: Settings) -> None:
    """Create the data dir layout (idempotent), private where it must be."""
    for directory in (settings.data_dir, settings.logs_dir, settings.builds_dir, settings.nginx_dir):
        directory.mkdir(parents=True, exist_ok=True)
    # Traversable, not listable: nginx workers (nobody) reach nginx/temp and the ACME webroot,
    # the git user git/. Everything else below it is private to the controller's user.
    os.chmod(settings.data_dir, 0o711)  # noqa: S103
    for private in (settings.logs_dir, settings.builds_dir):
        os.chmod(private, PRIVATE_DIR_MODE)


def build_adapters(settings: Settings) -> Adapters:
    """The real outside world: the migrated database, Docker, nginx, HTTP probes, the ACME CA."""
    prepare_data_dir(settings)
    make_sqlite_private(settings.resolved_database_url)
    upgrade_database(settings.resolved_database_url)
    store = SqlStore(settings.resolved_database_url, Cipher.from_key_file(settings.secret_key_file))
    certs = FileCertificateStore(settings.certs_dir)
    certs.prepare()
    runtime = DockerRuntime(
        instance=settings.instance,
        network=settings.docker_network,
        build_layers=settings.data_dir / "build-layers",
        log_max_size=settings.container_log_max_size,
        log_max_files=settings.container_log_max_files,
    )
    proxy = NginxProxy(
        prefix=settings.nginx_dir,
        templates_dir=TEMPLATES_DIR,
        listen_addr=settings.proxy_addr,
        http_port=settings.http_port,
        nginx_bin=settings.nginx_bin,
        drain_timeout=settings.drain_timeout,
        https_port=settings.https_port,
        acme_webroot=settings.acme_webroot if settings.acme_enabled else None,
        site_tls=site_tls_lookup(certs),
    )
    return Adapters(
        store=store,
        runtime=runtime,
        proxy=proxy,
        prober=HttpProber(),
        certs=certs,
        issuer=build_issuer(settings),
        deploy_logs=FileDeployLogStore(
            settings.logs_dir / "deploys", max_bytes=settings.build_log_max_kb * 1024
        ),
        event_journal=FileEventJournal(settings.data_dir / "events.jsonl"),
        starter=DockerKeeper(instance=settings.instance),
        traffic=AccessLogMeter(proxy.access_log_path),
    )


def build_issuer(settings: Settings) -> AcmeIssuer | None:
    """The ACME client, or None when no CA is configured."""
    if not settings.acme_enabled:
        return None
    issuer = AcmeIssuer(
        directory_url=settings.acme_directory,
        email=settings.acme_email,
        state_dir=settings.acme_dir,
        webroot=settings.acme_webroot,
        ca_bundle=settings.acme_ca_bundle,
        timeout=settings.acme_timeout,
    )
    issuer.prepare()
    return issuer


def build_services(settings: Settings, adapters: Adapters | None = None) -> Services:
    """Create the data dir layout and wire the adapters (the real ones unless given) into the services."""
    prepare_data_dir(settings)
    outside = adapters if adapters is not None else build_adapters(settings)
    store, runtime, proxy, certs = outside.store, outside.runtime, outside.proxy, outside.certs
    routing = Routing(store=store, runtime=runtime, proxy=proxy, system_sites=dashboard_sites(settings))
    logs = DeployLogHub(outside.deploy_logs)
    events = EventBus(journal=outside.event_journal)
    public_urls = PublicUrls(settings.http_port, settings.https_port, certs)
    deploys = DeployService(
        store=store,
        runtime=runtime,
        prober=outside.prober,
        routing=routing,
        logs=logs,
        contexts=BuildDirs(settings.builds_dir),
        events=events,
        settings=PipelineSettings(
            instance=settings.instance,
            network=settings.docker_network,
            keep_releases=settings.keep_releases,
            build_timeout=settings.build_timeout,
            health_timeout=settings.health_timeout,
            stop_timeout=settings.stop_timeout,
            memory_bytes=settings.container_memory_mb * 1024 * 1024 if settings.container_memory_mb else None,
            public_urls=public_urls,
            workers=settings.deploy_workers,
            other_workers=settings.job_workers,
            job_timeout=settings.job_timeout,
            requeue_interrupted=settings.requeue_interrupted,
        ),
    )
    certificates = build_certificates(
        settings,
        store=store,
        certs=certs,
        issuer=outside.issuer,
        routing=routing,
        jobs=deploys,
        public_url=public_urls.url,
        events=events,
    )
    hygiene = Hygiene(
        store=store,
        runtime=runtime,
        data_dir=settings.data_dir,
        keep_releases=settings.keep_releases,
        threshold_percent=settings.disk_prune_threshold,
        measure=outside.disk_used_percent,
    )
    admin_token = load_admin_token(settings)
    accounts = build_accounts(
        settings,
        store=store,
        app_names=lambda: [a.name for a in store.list_apps()],
        admin_token=admin_token,
        hasher=outside.passwords,
    )
    keeper = (
        Keeper(starter=outside.starter, serving=ServingSets(store).of, audit=accounts.audit)
        if outside.starter
        else None
    )
    reconciler = Reconciler(
        store=store,
        runtime=runtime,
        routing=routing,
        deploys=deploys,
        interval=settings.reconcile_interval,
        hygiene=hygiene,
        keeper=keeper,
        events=events,
        audit=accounts.audit,
    )
    # `apps` is bound below: a push may create an app (auto-create), and apps own their repos.
    git = build_git(
        settings,
        store=store,
        deploys=deploys,
        public_urls=public_urls,
        create_app=lambda name: apps.create(name),
    )
    crashes = CrashLog()
    apps = AppService(
        store=store,
        runtime=runtime,
        routing=routing,
        base_domain=settings.base_domain,
        public_urls=public_urls,
        listeners=(certificates, git.sources),
        crashes=crashes,
    )
    return Services(
        settings=settings,
        store=store,
        runtime=runtime,
        proxy=proxy,
        routing=routing,
        logs=logs,
        events=events,
        apps=apps,
        deploys=deploys,
        history=DeployHistory(store=store),
        reconciler=reconciler,
        hygiene=hygiene,
        system=SystemService(runtime=runtime, hygiene=hygiene, reconciler=reconciler),
        stats=StatsService(store=store, runtime=runtime, traffic=outside.traffic),
        admin_token=admin_token,
        certificates=certificates,
        git=git,
        crashes=crashes,
        app_states=AppStateWatch(store=store, runtime=runtime, crashes=crashes, events=events),
        accounts=accounts,
        keeper=keeper,
    )


def dashboard_sites(settings: Settings) -> tuple[Site, ...]:
    """The GUI's own proxy site when DOCKYARD_DASHBOARD_DOMAIN is set (a bad name stops the start)."""
    if not settings.dashboard_domain:
        return ()
    try:
        domain = validate_domain(settings.dashboard_domain)
    except InvalidInput as error:
        raise InvalidInput(f"DOCKYARD_DASHBOARD_DOMAIN: {error}") from None
    return (Site(app=DASHBOARD_SITE, domains=(domain,), backends=(settings.dashboard_backend,)),)


def build_certificates(
    settings: Settings,
    *,
    store: Store,
    certs: CertificateStore,
    issuer: CertificateIssuer | None,
    routing: Routing,
    jobs: DeployService,
    events: EventBus,
    public_url: Callable[[str, bool], str],
) -> CertificateService:
    """The certificate service; without an issuer it only serves certificates already on disk."""
    return CertificateService(
        store=store,
        certs=certs,
        issuer=issuer,
        routing=routing,
        jobs=jobs,
        events=events,
        public_url=public_url,
        policy=RenewalPolicy(
            renew_before=timedelta(days=settings.acme_renew_days),
            retry_base=timedelta(seconds=settings.acme_retry_base),
            retry_max=timedelta(seconds=settings.acme_retry_max),
            daily_attempts=settings.acme_daily_attempts,
        ),
        check_interval=settings.acme_check_interval,
        system_sites={site.app: site.domains for site in dashboard_sites(settings)},
    )
