"""argon2id hashing of passwords."""

from argon2 import PasswordHasher

from controller.adapters.passwords import Argon2Passwords

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_a_password_verifies_against_its_hash_only() -> None:
    passwords = Argon2Passwords(FAST)
    stored = passwords.hash("correct horse")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert passwords.verify(stored, "correct horse")
    assert not passwords.verify(stored, "wrong horse")
    assert passwords.hash("correct horse") != stored  # salted


def test_a_malformed_hash_never_verifies() -> None:
    assert not Argon2Passwords(FAST).verify("not-a-hash", "anything")


def test_the_default_parameters_are_argon2id() -> None:
    assert Argon2Passwords().hash("x" * 12).startswith("$argon2id$v=19$")
