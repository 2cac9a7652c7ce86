"""Failed logins slow down per user and per address."""

from controller.domain.login_throttle import LoginThrottle


def test_five_failures_in_ten_minutes_make_a_key_wait() -> None:
    throttle = LoginThrottle()
    keys = ["user:alice", "addr:10.0.0.1"]
    for second in range(5):
        assert throttle.retry_after(keys, float(second)) == 0
        throttle.failed(keys, float(second))
    assert throttle.retry_after(keys, 5.0) == 595.0
    assert throttle.retry_after(["user:alice", "addr:10.0.0.2"], 5.0) == 595.0  # the user, elsewhere
    assert throttle.retry_after(["user:bob", "addr:10.0.0.1"], 5.0) == 595.0  # the address, another user
    assert throttle.retry_after(["user:bob", "addr:10.0.0.2"], 5.0) == 0
    assert throttle.retry_after(keys, 600.5) == 0  # the oldest failure left the window


def test_a_success_clears_the_users_failures() -> None:
    throttle = LoginThrottle(limit=2)
    throttle.failed(["user:a"], 0.0)
    throttle.succeeded("user:a")
    throttle.failed(["user:a"], 1.0)
    assert throttle.retry_after(["user:a"], 1.0) == 0
