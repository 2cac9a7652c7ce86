"""Rendering HTTPS: server blocks per certificate, the redirect, the ACME challenge path, refusals."""

from pathlib import Path

import pytest

from controller.adapters.nginx import NginxProxy, render_main, render_sites
from controller.domain.errors import ProxyConfigRejected
from controller.domain.models import Site, SiteTls

WEBROOT = Path("/var/lib/dockyard/acme/webroot")
TLS = SiteTls(
    "/var/lib/dockyard/certs/web/fullchain.pem", "/var/lib/dockyard/certs/web/privkey.pem", ("a.example.com",)
)


def render(*sites: Site, https_port: int = 8443) -> str:
    return render_sites(
        list(sites), listen_addr="127.0.0.1", http_port=8080, https_port=https_port, acme_webroot=WEBROOT
    )


def servers(config: str) -> list[str]:
    return ["server {" + block for block in config.split("server {")[1:]]


def named(config: str, names: str) -> list[str]:
    return [block for block in servers(config) if f"server_name {names};" in block]


def test_a_certified_domain_gets_an_https_server_and_an_http_redirect() -> None:
    config = render(Site("web", ("a.example.com", "b.example.com"), ("10.0.0.5:80",), TLS))

    (https,) = [b for b in named(config, "a.example.com") if "ssl;" in b]
    assert "listen 127.0.0.1:8443 ssl;" in https
    assert f"ssl_certificate {TLS.cert_path};" in https
    assert f"ssl_certificate_key {TLS.key_path};" in https
    assert "proxy_pass http://dockyard_app_web;" in https
    (redirect,) = [b for b in named(config, "a.example.com") if "return 308" in b]
    assert "return 308 https://$host:8443$request_uri;" in redirect
    assert "proxy_pass" not in redirect
    (plain,) = named(config, "b.example.com")
    assert "proxy_pass http://dockyard_app_web;" in plain and "return 308" not in plain


def test_the_challenge_path_comes_before_any_redirect_in_every_http_server() -> None:
    config = render(Site("web", ("a.example.com", "b.example.com"), ("10.0.0.5:80",), TLS))

    http_servers = [b for b in servers(config) if "listen 127.0.0.1:8080;" in b]
    assert len(http_servers) == 2
    for block in http_servers:
        challenge = block.index("location ^~ /.well-known/acme-challenge/ {")
        assert f"root {WEBROOT};" in block
        assert challenge < block.index("location / {")


def test_the_default_server_answers_challenges_too(tmp_path: Path) -> None:
    config = render_main(prefix=tmp_path, listen_addr="127.0.0.1", http_port=8080, acme_webroot=WEBROOT)

    assert f"location ^~ /.well-known/acme-challenge/ {{\n            root {WEBROOT};" in config


def test_redirect_opt_out_serves_both_schemes() -> None:
    config = render(
        Site(
            "web",
            ("a.example.com",),
            ("10.0.0.5:80",),
            SiteTls(TLS.cert_path, TLS.key_path, TLS.domains, False),
        )
    )

    assert "return 308" not in config
    assert len([b for b in named(config, "a.example.com") if "proxy_pass" in b]) == 2


def test_standard_port_has_no_port_in_the_redirect() -> None:
    assert "return 308 https://$host$request_uri;" in render(
        Site("web", ("a.example.com",), (), TLS), https_port=443
    )


def test_unknown_names_on_https_are_refused_without_showing_a_certificate() -> None:
    config = render(Site("web", ("a.example.com",), ("10.0.0.5:80",), TLS))

    (default,) = [b for b in servers(config) if "default_server" in b]
    assert "listen 127.0.0.1:8443 ssl default_server;" in default
    assert "ssl_reject_handshake on;" in default


def test_no_https_listener_without_a_certificate() -> None:
    config = render(Site("web", ("a.example.com",), ("10.0.0.5:80",)))

    assert "8443" not in config and "ssl" not in config
    assert "location ^~ /.well-known/acme-challenge/" in config


@pytest.mark.parametrize(
    "path",
    ["relative/fullchain.pem", "/certs/a b.pem", "/certs/x.pem;include /etc/shadow", "/certs/x.pem\n", ""],
)
def test_unsafe_certificate_paths_are_refused(path: str) -> None:
    with pytest.raises(ProxyConfigRejected, match="unsafe path"):
        render(Site("web", ("a.example.com",), (), SiteTls(path, TLS.key_path, TLS.domains)))
    with pytest.raises(ProxyConfigRejected, match="unsafe path"):
        render(Site("web", ("a.example.com",), (), SiteTls(TLS.cert_path, path, TLS.domains)))


def test_a_certificate_for_a_domain_the_site_lacks_is_refused() -> None:
    with pytest.raises(ProxyConfigRejected, match="does not have"):
        render(Site("web", ("b.example.com",), (), TLS))


def test_a_hostile_certificate_domain_is_refused() -> None:
    with pytest.raises(ProxyConfigRejected, match="unsafe domain"):
        render(Site("web", ("a.example.com",), (), SiteTls(TLS.cert_path, TLS.key_path, ("a.com;x",))))


def test_the_proxy_serves_http_only_when_certificate_files_are_missing(tmp_path: Path) -> None:
    chain, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    chain.write_text("chain")
    proxy = NginxProxy(
        prefix=tmp_path / "nginx",
        listen_addr="127.0.0.1",
        http_port=8080,
        https_port=8443,
        site_tls=lambda site: SiteTls(str(chain), str(key), site.domains),
    )
    site = Site("web", ("a.example.com",), ("10.0.0.5:80",))

    assert "ssl_certificate" not in proxy._render_sites([site])
    key.write_text("key")
    assert f"ssl_certificate {chain};" in proxy._render_sites([site])


def test_an_nginx_without_ssl_reject_handshake_gets_no_default_https_server() -> None:
    config = render_sites(
        [Site("web", ("a.example.com",), (), TLS)],
        listen_addr="127.0.0.1",
        http_port=8080,
        https_port=8443,
        reject_unknown_tls=False,
    )

    assert "ssl_reject_handshake" not in config and "default_server" not in config
    assert "listen 127.0.0.1:8443 ssl;" in config
