"""When to order, renew, back off and stop: the certificate rules, without a CA."""

from datetime import UTC, date, datetime, timedelta

import pytest

from controller.domain.certificates import (
    CertificateInfo,
    CertificateState,
    DomainStatus,
    IssuedCertificate,
    RenewalPolicy,
    attempts_today,
    next_retry,
    plan_order,
    record_attempt,
    record_failure,
    record_success,
    served_domains,
    state_from_json,
    state_to_json,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RenewalPolicy(
    renew_before=timedelta(days=30), retry_base=timedelta(minutes=10), retry_max=timedelta(hours=12)
)
A, B, C = "a.example.com", "b.example.com", "c.example.com"


def cert(*domains: str, days_left: float = 80) -> CertificateInfo:
    return CertificateInfo(
        domains=domains,
        serial="abc",
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=days_left),
    )


def state(certificate: CertificateInfo | None = None, **domains: DomainStatus) -> CertificateState:
    return CertificateState(
        app="web", certificate=certificate, domains={k.replace("_", "."): v for k, v in domains.items()}
    )


def failed(failures: int, *, retry_in: timedelta, attempts: int = 1) -> DomainStatus:
    return DomainStatus(
        last_attempt=NOW,
        failures=failures,
        next_attempt=NOW + retry_in,
        attempts_day=NOW.date(),
        attempts=attempts,
    )


def test_a_new_app_orders_all_its_domains_in_one_certificate() -> None:
    plan = plan_order([A, B], state(), NOW, POLICY)

    assert plan.domains == (A, B)
    assert plan.reason == "new domains"


def test_a_valid_certificate_covering_every_domain_is_left_alone() -> None:
    plan = plan_order([A, B], state(cert(A, B)), NOW, POLICY)

    assert plan.domains == ()
    assert plan.reason == "certificate is valid"


def test_an_added_domain_reorders_with_the_covered_ones() -> None:
    assert plan_order([A, B, C], state(cert(A, B)), NOW, POLICY).domains == (A, B, C)


@pytest.mark.parametrize(("days_left", "due"), [(29.9, True), (30.1, False), (-1, True)])
def test_renewal_is_due_under_the_threshold(days_left: float, due: bool) -> None:
    plan = plan_order([A], state(cert(A, days_left=days_left)), NOW, POLICY)

    assert plan.domains == ((A,) if due else ())
    if due:
        assert plan.reason == "renewal due"


def test_force_renews_a_valid_certificate() -> None:
    plan = plan_order([A], state(cert(A)), NOW, POLICY, force=True)

    assert plan.domains == (A,)
    assert plan.reason == "forced renewal"


def test_a_failed_domain_waits_for_its_backoff_unless_a_user_asks() -> None:
    current = state(cert(A), b_example_com=failed(1, retry_in=timedelta(minutes=10)))

    automatic = plan_order([A, B], current, NOW, POLICY)
    assert automatic.domains == ()
    assert automatic.blocked == (B,)
    assert automatic.reason == "waiting to retry"

    assert plan_order([A, B], current, NOW + timedelta(minutes=11), POLICY).domains == (A, B)
    assert plan_order([A, B], current, NOW, POLICY, manual=True).domains == (A, B)


def test_the_daily_cap_holds_even_for_a_user() -> None:
    capped = state(cert(A), b_example_com=failed(5, retry_in=timedelta(0), attempts=POLICY.daily_attempts))

    plan = plan_order([A, B], capped, NOW, POLICY, manual=True)
    assert plan.domains == ()
    assert plan.blocked == (B,)
    assert plan_order([A, B], capped, NOW + timedelta(days=1), POLICY, manual=True).domains == (A, B)


def test_a_renewal_that_failed_backs_off_instead_of_retrying_at_once() -> None:
    current = state(cert(A, days_left=5), a_example_com=failed(1, retry_in=timedelta(minutes=10)))

    assert plan_order([A], current, NOW, POLICY).domains == ()
    assert plan_order([A], current, NOW + timedelta(minutes=10), POLICY).domains == (A,)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [POLICY.backoff(n) for n in (0, 1, 2, 3)] == [
        timedelta(0),
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
    ]
    assert POLICY.backoff(50) == timedelta(hours=12)


def test_success_clears_errors_and_records_validity() -> None:
    before = state(None, a_example_com=failed(3, retry_in=timedelta(hours=1)))
    info = cert(A, B)
    issued = IssuedCertificate(b"chain", b"key", (A, B), "abc", info.not_before, info.not_after)

    after = record_success(before, issued, info, NOW)

    assert after.certificate == info
    for domain in (A, B):
        status = after.domain(domain)
        assert (status.last_error, status.failures, status.next_attempt) == (None, 0, None)
        assert status.valid_until == info.not_after and status.last_success == NOW
    assert attempts_today(after.domain(A), NOW) == 2


def test_a_domain_the_new_certificate_drops_loses_its_validity() -> None:
    before = state(
        cert(A, B), a_example_com=DomainStatus(valid_until=NOW), b_example_com=DomainStatus(valid_until=NOW)
    )
    info = cert(A)
    issued = IssuedCertificate(b"chain", b"key", (A,), "def", info.not_before, info.not_after)

    after = record_success(before, issued, info, NOW)

    assert after.domain(B).valid_until is None
    assert served_domains(after, [A, B]) == (A,)


def test_failure_records_the_ca_error_and_schedules_a_retry() -> None:
    after = record_failure(state(), {B: ("connection", "dial tcp: connection refused")}, NOW, POLICY)
    after = record_failure(after, {B: ("connection", "again")}, NOW, POLICY)

    status = after.domain(B)
    assert (status.error_code, status.last_error, status.failures) == ("connection", "again", 2)
    assert status.next_attempt == NOW + timedelta(minutes=20)
    assert attempts_today(status, NOW) == 2
    assert next_retry(after, [A, B], NOW, POLICY) == NOW + timedelta(minutes=20)


def test_a_capped_domain_is_retried_the_next_utc_day() -> None:
    capped = state(b_example_com=failed(5, retry_in=timedelta(minutes=5), attempts=POLICY.daily_attempts))

    assert next_retry(capped, [A, B], NOW, POLICY) == datetime(2026, 3, 2, tzinfo=UTC)
    assert next_retry(capped, [A], NOW, POLICY) is None


def test_attempts_are_counted_per_utc_day() -> None:
    status = DomainStatus(attempts_day=date(2026, 2, 28), attempts=5)

    assert attempts_today(status, NOW) == 0
    assert attempts_today(record_attempt(state(b_example_com=status), [B], NOW).domain(B), NOW) == 1


def test_status_json_round_trips() -> None:
    original = record_failure(
        CertificateState(app="web", certificate=cert(A), https_redirect=False),
        {B: ("unauthorized", "404 at the challenge path")},
        NOW,
        POLICY,
    )

    document = state_to_json(original)
    assert document["domains"][B]["error_code"] == "unauthorized"
    assert state_from_json("web", document, original.certificate) == original


def test_a_broken_status_file_falls_back_to_defaults() -> None:
    restored = state_from_json(
        "web", {"domains": {"a.example.com": "junk", 3: {}}, "https_redirect": "x"}, None
    )

    assert restored.https_redirect is True
    assert "a.example.com" not in restored.domains
