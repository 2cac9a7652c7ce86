"""Issuance time against Pebble on loopback: from `POST .../domains` to HTTPS serving that name.

A real controller (nginx, a deployed busybox app) and Pebble + challtestsrv. Each round adds
one new domain to the app through the API and polls fresh TLS handshakes (SNI = the new
name, verified against Pebble's root) until one succeeds and the app answers 200 over it.
Since an app has one certificate, round i orders a certificate for i+1 names; one more
table row shows the same with a new app per round (2 names: its default domain and one).

Baseline, measured in the same run against the same Pebble and webroot: an order through
the `acme` library's own `poll_and_finalize` (it sleeps whole seconds while it polls).

    .venv/bin/python -m bench.acme_issuance [ROUNDS]      # 10
"""

import sys
import time
from pathlib import Path

import httpx
import josepy
from acme import challenges, client, crypto_util, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import (
    BASE_DOMAIN,
    api_client,
    bench_dir,
    ensure_busybox,
    free_port,
    median,
    p90,
    print_table,
    write_static_app,
)
from tests.e2e.conftest import make_controller
from tests.e2e.pebble import Pebble, start_pebble
from tests.e2e.tls_client import https_get

TARGET_SECONDS = 0.5
POLL = 0.002


def until_https(host: str, port: int, root: bytes, timeout: float = 30, *, status: int | None = 200) -> float:
    """Seconds until a verified HTTPS GET for `host` answers `status` (any if None), fresh connections."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            answered = https_get(host, port, root)[0]
            if status is None or answered == status:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(POLL)
    raise TimeoutError(f"{host} was not served over HTTPS within {timeout} s")


def library_issuance(pebble: Pebble, webroot: Path, domain: str) -> float:
    """One order the way the library's docs do it: answer http-01, then poll_and_finalize."""
    key = ec.generate_private_key(ec.SECP256R1())
    net = client.ClientNetwork(
        josepy.jwk.JWKEC(key=key),
        alg=josepy.jwa.ES256,
        verify_ssl=str(pebble.ca_bundle),  # type: ignore[arg-type]  # requests takes a CA bundle path too
        user_agent="bench",
    )
    acme = client.ClientV2(client.ClientV2.get_directory(pebble.directory_url, net), net)
    acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    cert_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    start = time.perf_counter()
    order = acme.new_order(crypto_util.make_csr(cert_key, [domain]))
    written = []
    for authzr in order.authorizations:
        challb = next(c for c in authzr.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, validation = challb.response_and_validation(net.key)
        path = webroot / ".well-known" / "acme-challenge" / challb.chall.encode("token")
        path.write_text(validation)
        path.chmod(0o644)
        written.append(path)
        acme.answer_challenge(challb, response)
    acme.poll_and_finalize(order)
    elapsed = time.perf_counter() - start
    for path in written:
        path.unlink()
    return elapsed


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    import docker

    docker_client = docker.from_env()
    ensure_busybox(docker_client)
    docker_client.close()
    added: list[float] = []
    api_calls: list[float] = []
    fresh_apps: list[float] = []
    baseline: list[float] = []
    with bench_dir("acme") as tmp:
        ctl = make_controller(tmp)
        pebble = start_pebble(tmp / "pebble", http_port=ctl.http_port)
        https_port = free_port()
        ctl.extra_env.update(
            DOCKYARD_HTTPS_PORT=str(https_port),
            DOCKYARD_ACME_DIRECTORY=pebble.directory_url,
            DOCKYARD_ACME_EMAIL="bench@example.com",
            DOCKYARD_ACME_CA_BUNDLE=str(pebble.ca_bundle),
        )
        try:
            ctl.start()
            root = pebble.issuing_root()
            api = api_client(ctl)
            api.post("/apps", json={"name": "bench"}).raise_for_status()
            ctl.cli("deploy", "bench", "--path", str(write_static_app(tmp / "src", body="bench")))
            first = until_https(f"bench.{BASE_DOMAIN}", https_port, root)
            print(
                f"  first certificate (account registration included): {first:.3f} s after deploy", flush=True
            )
            for i in range(rounds):
                domain = f"d{i}.bench-issuance.test"
                start = time.perf_counter()
                api.post("/apps/bench/domains", json={"domain": domain}).raise_for_status()
                api_calls.append(time.perf_counter() - start)
                added.append(api_calls[-1] + until_https(domain, https_port, root))
                print(
                    f"  round {i + 1}/{rounds}: {domain} served over HTTPS after {added[-1]:.3f} s",
                    flush=True,
                )
            for i in range(rounds):
                app = f"fresh{i}"
                api.post("/apps", json={"name": app}).raise_for_status()
                until_https(f"{app}.{BASE_DOMAIN}", https_port, root, status=None)
                domain = f"{app}.bench-issuance.test"
                start = time.perf_counter()
                api.post(f"/apps/{app}/domains", json={"domain": domain}).raise_for_status()
                fresh_apps.append(
                    time.perf_counter() - start + until_https(domain, https_port, root, status=None)
                )
            webroot = ctl.data_dir / "acme" / "webroot"
            for i in range(min(rounds, 3)):
                baseline.append(library_issuance(pebble, webroot, f"lib{i}.bench-issuance.test"))
            api.close()
        except (httpx.HTTPError, TimeoutError):
            print((tmp / "controller.log").read_text()[-3000:])
            raise
        finally:
            ctl.cleanup()
            pebble.stop()

    print(f"\nissuance on loopback against Pebble (PEBBLE_VA_NOSLEEP=1), {rounds} rounds")
    print_table(
        ["measure", "median s", "p90 s", "min s", "max s"],
        [
            [name, f"{median(v):.3f}", f"{p90(v):.3f}", f"{min(v):.3f}", f"{max(v):.3f}"]
            for name, v in (
                ("domain added -> HTTPS (1..N+1 names)", added),
                ("  of which POST /domains", api_calls),
                ("domain added -> HTTPS, new app (2 names)", fresh_apps),
                ("baseline: acme poll_and_finalize only", baseline),
            )
        ],
    )
    verdict = "OK" if median(added) < TARGET_SECONDS else "MISSED"
    print(
        f"SUMMARY acme_issuance: domain added -> HTTPS serving median {median(added):.3f} s "
        f"(p90 {p90(added):.3f} s), library poll_and_finalize alone {median(baseline):.3f} s "
        f"({median(baseline) / median(added):.1f}x slower), target < {TARGET_SECONDS} s: {verdict}"
    )


if __name__ == "__main__":
    main()
