"""The URLs an app is shown with: https:// for the domains its certificate serves."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from controller.adapters.cert_files import FileCertificateStore
from controller.domain.certificates import CertificateInfo, CertificateState
from controller.wiring import PublicUrls


def test_certified_domains_get_https_urls_and_default_ports_are_left_out(tmp_path: Path) -> None:
    certs = FileCertificateStore(tmp_path / "certs")
    certs.prepare()
    now = datetime.now(UTC)
    info = CertificateInfo(("a.example.com",), "01", now, now + timedelta(days=90))
    certs.save(CertificateState(app="web", certificate=info))

    assert PublicUrls(80, 443, certs)("web", ["a.example.com", "b.example.com"]) == [
        "https://a.example.com",
        "http://b.example.com",
    ]
    assert PublicUrls(8080, 8443, certs)("other", ["a.example.com"]) == ["http://a.example.com:8080"]
    assert PublicUrls(8080, 8443, certs)("web", ["a.example.com"]) == ["https://a.example.com:8443"]
