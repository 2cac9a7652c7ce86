"""Facts of a PEM certificate chain (names, serial, validity), read with `cryptography`."""

from cryptography import x509

from controller.domain.certificates import CertificateInfo


def certificate_info(fullchain_pem: bytes) -> CertificateInfo:
    """The leaf (first) certificate's DNS names, serial (hex) and validity, in UTC.

    Raises:
        ValueError: the data holds no PEM certificate.
    """
    leaf = x509.load_pem_x509_certificates(fullchain_pem)[0]
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        domains = tuple(names.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        domains = ()
    return CertificateInfo(
        domains=domains,
        serial=format(leaf.serial_number, "x"),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )
