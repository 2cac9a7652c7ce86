"""Rendering of the nginx config: performance settings, 503/404 servers, refusal of unsafe values."""

import re
from pathlib import Path

import pytest

from controller.adapters.nginx import TEMPLATES_DIR, NginxProxy, NginxTunables, render_main, render_sites
from controller.domain.errors import ProxyConfigRejected
from controller.domain.models import Site

ADDR = "127.0.0.1"
PORT = 8080


def render(*sites: Site, tunables: NginxTunables | None = None) -> str:
    return render_sites(list(sites), tunables=tunables or NginxTunables(), listen_addr=ADDR, http_port=PORT)


def server_block(config: str, app: str) -> str:
    """The text from `# app APP` to the next app's comment."""
    return config.split(f"# app {app}\n", 1)[1].split("# app ", 1)[0]


def test_templates_ship_with_the_package() -> None:
    assert (TEMPLATES_DIR / "nginx.conf.j2").is_file()
    assert (TEMPLATES_DIR / "sites.conf.j2").is_file()


def test_upstream_uses_keepalive_and_http11_with_empty_connection_header() -> None:
    config = render(Site("web", ("web.example.com",), ("10.0.0.5:8080", "10.0.0.6:8080")))

    assert "upstream dockyard_app_web {" in config
    # A failed replica is left alone for 1 s, not nginx's 10 s (see NginxTunables).
    assert "server 10.0.0.5:8080 max_fails=1 fail_timeout=1s;" in config
    assert "server 10.0.0.6:8080 max_fails=1 fail_timeout=1s;" in config
    assert "keepalive 32;" in config
    assert "proxy_pass http://dockyard_app_web;" in config
    assert "proxy_http_version 1.1;" in config
    assert 'proxy_set_header Connection "";' in config
    for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-IP"):
        assert f"proxy_set_header {header} " in config
    assert "listen 127.0.0.1:8080;" in config


def test_a_lone_backend_has_no_fail_marking() -> None:
    """nginx never leaves an upstream's only server alone: the line stays plain."""
    config = render(Site("web", ("web.example.com",), ("10.0.0.5:8080",)))
    assert "    server 10.0.0.5:8080;\n" in config and "fail_timeout" not in config


def test_every_domain_of_an_app_is_in_its_server_name() -> None:
    config = render(Site("web", ("a.example.com", "b.example.org", "example.net"), ("10.0.0.5:80",)))

    assert "server_name a.example.com b.example.org example.net;" in config


def test_app_without_backends_answers_503_and_has_no_upstream() -> None:
    config = render(Site("idle", ("idle.example.com",)), Site("web", ("web.example.com",), ("10.0.0.5:80",)))

    idle = server_block(config, "idle")
    assert "upstream" not in idle
    assert "proxy_pass" not in idle
    assert re.search(r'return 503 "[^"\n]{1,80}\\n";', idle)
    assert "server_name idle.example.com;" in idle
    assert "return 503" not in server_block(config, "web")


def test_app_without_domains_is_skipped() -> None:
    config = render(Site("hidden", (), ("10.0.0.5:80",)), Site("web", ("web.example.com",), ("10.0.0.6:80",)))

    assert "hidden" not in config
    assert "dockyard_app_web" in config


def test_sites_are_sorted_and_duplicate_backends_collapse() -> None:
    config = render(
        Site("zeta", ("z.example.com",), ("10.0.0.1:80", "10.0.0.1:80")),
        Site("alpha", ("a.example.com",), ("10.0.0.2:80",)),
    )

    assert config.index("# app alpha") < config.index("# app zeta")
    assert config.count("server 10.0.0.1:80;") == 1


def test_tunables_are_named_and_overridable() -> None:
    tunables = NginxTunables(upstream_keepalive=8, proxy_read_timeout=300, client_max_body_size_m=1)
    config = render(Site("web", ("web.example.com",), ("10.0.0.5:80",)), tunables=tunables)

    assert "keepalive 8;" in config
    assert "proxy_read_timeout 300s;" in config
    assert "client_max_body_size 1m;" in config


@pytest.mark.parametrize("bad", [-1, "60s; include /etc/shadow", 1.5, True])
def test_tunables_must_be_non_negative_ints(bad: object) -> None:
    with pytest.raises(ValueError):
        NginxTunables(proxy_read_timeout=bad)  # type: ignore[arg-type]


def test_main_config_keeps_every_path_under_the_prefix(tmp_path: Path) -> None:
    config = render_main(prefix=tmp_path, listen_addr=ADDR, http_port=PORT)

    assert f"pid {tmp_path}/nginx.pid;" in config
    assert f"error_log {tmp_path}/logs/error.log" in config
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f"{kind}_temp_path {tmp_path}/temp/{kind};" in config
    assert f"include {tmp_path}/sites.conf;" in config
    assert "server_tokens off;" in config
    assert "server_names_hash_max_size 16384;" in config
    assert "server_names_hash_bucket_size 512;" in config
    assert "access_log off;" in config


def test_main_config_has_a_plain_text_404_default_server(tmp_path: Path) -> None:
    config = render_main(prefix=tmp_path, listen_addr=ADDR, http_port=PORT)

    default = config.split("server {", 1)[1]
    assert "listen 127.0.0.1:8080 default_server;" in default
    assert re.search(r'return 404 "[^"\n]{1,80}\\n";', default)
    assert "default_type text/plain;" in config


def test_access_log_can_be_turned_on(tmp_path: Path) -> None:
    config = render_main(
        prefix=tmp_path, tunables=NginxTunables(access_log=True), listen_addr=ADDR, http_port=PORT
    )

    assert f"access_log {tmp_path}/logs/access.log combined buffer=64k flush=5s;" in config


def test_ipv6_listen_address_is_bracketed(tmp_path: Path) -> None:
    config = render_main(prefix=tmp_path, listen_addr="::1", http_port=80)

    assert "listen [::1]:80 default_server;" in config


@pytest.mark.parametrize(("addr", "port"), [("localhost", 80), ("127.0.0.1;", 80), ("127.0.0.1", 0)])
def test_bad_listen_address_or_port_is_refused(tmp_path: Path, addr: str, port: int) -> None:
    with pytest.raises(ValueError):
        render_main(prefix=tmp_path, listen_addr=addr, http_port=port)


@pytest.mark.parametrize("prefix", ["relative/dir", "/tmp/with space", "/tmp/x;include /etc/shadow"])
def test_prefix_nginx_cannot_read_unquoted_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError):
        render_main(prefix=Path(prefix), listen_addr=ADDR, http_port=PORT)


HOSTILE_DOMAINS = [
    "a.com;include /etc/shadow",
    "a.com\n",
    "a.com\ninclude /etc/shadow;",
    "*.*",
    "*.example.com",
    "-a.com",
    "a-.com",
    "a.com}",
    "a.com{",
    "a com",
    "a.com#",
    "$host",
    "~^(.*)$",
    "A.COM",
    "a..com",
    "a.com.",
    ".a.com",
    "",
    "ä.com",
    "a.com\r",
    "a\x00.com",
    "a" * 64 + ".com",
    ".".join(["a" * 63] * 4) + ".com",
]


@pytest.mark.parametrize("domain", HOSTILE_DOMAINS)
def test_hostile_domain_is_refused(domain: str) -> None:
    with pytest.raises(ProxyConfigRejected, match="unsafe domain"):
        render(Site("web", ("ok.example.com", domain), ("10.0.0.5:80",)))


@pytest.mark.parametrize(
    "backend",
    [
        "10.0.0.5:80;",
        "10.0.0.5:80 backup",
        "10.0.0.5:80;\ninclude /etc/shadow",
        "10.0.0.5:80\n",
        "10.0.0.5",
        "10.0.0.5:0",
        "10.0.0.5:65536",
        "256.0.0.5:80",
        "010.0.0.5:80",
        "0.0.0.0:80",
        "[::1]:80",
        "example.com:80",
        "unix:/tmp/app.sock",
        "\u0661\u0662\u0667.0.0.1:80",
        "",
    ],
)
def test_hostile_backend_is_refused(backend: str) -> None:
    with pytest.raises(ProxyConfigRejected, match="unsafe backend"):
        render(Site("web", ("web.example.com",), ("10.0.0.5:80", backend)))


@pytest.mark.parametrize(
    "app", ["a;b", "web\n", "Web", "-web", "web-", "a_b", "a b", "../x", "a{", "", "a" * 64]
)
def test_hostile_app_name_is_refused(app: str) -> None:
    with pytest.raises(ProxyConfigRejected, match="unsafe app name"):
        render(Site(app, ("web.example.com",), ("10.0.0.5:80",)))


def test_hostile_values_are_refused_even_for_apps_without_domains() -> None:
    with pytest.raises(ProxyConfigRejected):
        render(Site("hidden", (), ("10.0.0.5:80;",)))


def test_a_domain_claimed_twice_is_refused() -> None:
    with pytest.raises(ProxyConfigRejected, match="two sites"):
        render(Site("one", ("same.example.com",)), Site("two", ("same.example.com",)))


def test_an_app_listed_twice_is_refused() -> None:
    with pytest.raises(ProxyConfigRejected, match="twice"):
        render(Site("web", ("a.example.com",)), Site("web", ("b.example.com",)))


def test_longest_valid_domain_is_accepted() -> None:
    domain = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(domain) == 253

    assert f"server_name {domain};" in render(Site("web", (domain,), ("10.0.0.5:80",)))


def test_refused_sites_never_reach_a_file(tmp_path: Path) -> None:
    proxy = NginxProxy(
        prefix=tmp_path / "nginx", listen_addr="127.0.0.1", http_port=8080, nginx_bin="/nonexistent/nginx"
    )

    with pytest.raises(ProxyConfigRejected):
        proxy.apply([Site("web", ("a.com;include /etc/shadow",), ("10.0.0.5:80",))])

    assert not (tmp_path / "nginx" / "sites.conf").exists()
    assert not (tmp_path / "nginx" / "nginx.conf").exists()


def test_overrides_dir_is_included_per_app_and_checked() -> None:
    site = Site(app="web", domains=("web.example.com",), backends=("10.0.0.2:8080",))
    text = render_sites([site], listen_addr="127.0.0.1", http_port=8080, overrides_dir=Path("/srv/ng/apps"))
    assert "include /srv/ng/apps/web/*.conf;" in text
    with pytest.raises(ValueError):
        render_sites([site], listen_addr="127.0.0.1", http_port=8080, overrides_dir=Path("/a b;/x"))


def test_each_app_logs_to_its_own_access_log(tmp_path: Path) -> None:
    sites = [Site("web", ("web.example.com",), ("10.0.0.5:80",)), Site("api2", ("api.example.com",), ())]
    config = render_sites(sites, listen_addr=ADDR, http_port=PORT, access_log_dir=tmp_path)

    assert f"access_log {tmp_path}/web.access.log combined" in server_block(config, "web")
    assert f"access_log {tmp_path}/api2.access.log combined" in server_block(config, "api2")
    assert "access_log" not in render(*sites)


def test_an_app_with_several_backends_fails_over_after_a_short_connect_timeout() -> None:
    """A dead backend's SYNs go nowhere: with others to try, nginx gives up on it after 1 s."""
    config = render(
        Site("solo", ("solo.example.com",), ("10.0.0.5:8080",)),
        Site("duo", ("duo.example.com",), ("10.0.0.6:8080", "10.0.0.7:8080")),
    )

    assert "proxy_connect_timeout 5s;" in server_block(config, "solo")
    assert "proxy_connect_timeout 1s;" in server_block(config, "duo")
