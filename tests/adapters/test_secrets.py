"""The Fernet cipher and its key file."""

import os
import stat
import threading
from pathlib import Path

import pytest

from controller.adapters.secrets import Cipher, SecretKeyMismatch


def test_round_trip_and_ciphertext_hides_plaintext(tmp_path: Path) -> None:
    cipher = Cipher.from_key_file(tmp_path / "secret.key")
    token = cipher.encrypt("hunter2 ü")
    assert "hunter2" not in token
    assert cipher.decrypt(token) == "hunter2 ü"
    assert cipher.encrypt("hunter2 ü") != token


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    token = Cipher.from_key_file(path).encrypt("value")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    assert Cipher.from_key_file(path).decrypt(token) == "value"
    assert path.read_bytes() == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.key"]


def test_key_file_mode_ignores_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        Cipher.from_key_file(tmp_path / "secret.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    start = threading.Barrier(8)
    ciphers: list[Cipher] = []

    def load() -> None:
        start.wait()
        ciphers.append(Cipher.from_key_file(path))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    token = ciphers[0].encrypt("same")
    assert [c.decrypt(token) for c in ciphers] == ["same"] * 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"]


def test_another_key_cannot_decrypt(tmp_path: Path) -> None:
    token = Cipher.from_key_file(tmp_path / "a.key").encrypt("value")
    with pytest.raises(SecretKeyMismatch):
        Cipher.from_key_file(tmp_path / "b.key").decrypt(token)
    with pytest.raises(SecretKeyMismatch):
        Cipher.from_key_file(tmp_path / "a.key").decrypt("not a token ü")


def test_malformed_key_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text("too short")
    with pytest.raises(ValueError, match="does not hold a valid secret key"):
        Cipher.from_key_file(path)
