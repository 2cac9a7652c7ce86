"""SSH public keys users add, and the forced-command authorized_keys lines made from them. Pure."""

import base64
import binascii
import hashlib
import re
import shlex
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from controller.domain.errors import InvalidInput

KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
KEY_TEXT_MAX = 16 * 1024
_KEY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# What may appear in the forced command without quoting trouble in authorized_keys.
_SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._/+-]*$")


@dataclass(frozen=True)
class PublicKey:
    """A checked public key: its type, base64 blob and SHA256 fingerprint (as ssh-keygen -l)."""

    key_type: str
    key_data: str
    fingerprint: str


def validate_key_name(name: str) -> str:
    if not isinstance(name, str) or not _KEY_NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid key name {name!r}: 1-64 letters, digits and . _ @ -, starting with a letter or digit"
        )
    return name


def parse_public_key(text: str) -> PublicKey:
    """Parse one `TYPE BASE64 [comment]` line (an id_*.pub file's content).

    Options (`command=...`), several keys and private keys are refused; the blob must
    decode and name the same type as the line.
    """
    if not isinstance(text, str) or len(text) > KEY_TEXT_MAX:
        raise InvalidInput("the public key is empty or too long")
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("#")]
    if "PRIVATE KEY" in text:
        raise InvalidInput("that is a private key: add the public one (the .pub file)")
    if len(lines) != 1:
        raise InvalidInput("give exactly one public key line (`ssh-ed25519 AAAA... comment`)")
    fields = lines[0].split()
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        raise InvalidInput(
            f"not a public key line: it must start with one of {', '.join(sorted(KEY_TYPES))} (no options)"
        )
    key_type, key_data = fields[0], fields[1]
    try:
        blob = base64.b64decode(key_data, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the {key_type} key data is not valid base64 key material") from exc
    if embedded != key_type:
        raise InvalidInput(f"the key data is a {embedded!r} key, not {key_type}")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return PublicKey(key_type=key_type, key_data=key_data, fingerprint=f"SHA256:{digest}")


def authorized_keys_line(*, executable: str, data_dir: str, name: str, key_type: str, key_data: str) -> str:
    """`command="<dockyard> git-shell --data-dir <dir> NAME",restrict TYPE DATA NAME`.

    sshd runs the command through the git user's shell whatever the client asked for;
    `restrict` turns off forwarding, a pty and ~/.ssh/rc.
    """
    for label, path in (("executable", executable), ("data dir", data_dir)):
        if not _SAFE_PATH_RE.fullmatch(path):
            raise InvalidInput(
                f"the {label} path {path!r} has characters an authorized_keys command cannot hold"
            )
    validate_key_name(name)
    command = shlex.join([executable, "git-shell", "--data-dir", data_dir, name])
    return f'command="{command}",restrict {key_type} {key_data} {name}'


OWNER_MARK = "dockyard-instance="
# What versions before the owner mark wrote on top of a file they rewrote whole.
_LEGACY_HEADER = "# Managed by Dockyard (`dockyard keys`): edits here are overwritten."


def owns_authorized_keys_line(line: str, *, instance: str, data_dir: str) -> bool:
    """Whether the controller `instance` (with `data_dir`) wrote `line` and may replace it.

    Its lines end with `dockyard-instance=<instance>`. An unmarked forced-command line for
    its own data dir is one an older version of the same controller wrote.
    """
    fields = line.split()
    if not fields:
        return False
    if fields[-1].startswith(OWNER_MARK):
        return fields[-1] == OWNER_MARK + instance
    return line.startswith('command="') and f" git-shell --data-dir {shlex.quote(data_dir)} " in line


def merge_authorized_keys(existing: str, *, instance: str, data_dir: str, own: Sequence[str]) -> str:
    """authorized_keys with this controller's lines replaced by `own`, each marked as its own.

    Every other line (another controller's, one a person wrote, comments) stays as it was
    and where it was; this controller's lines follow them.
    """
    kept = [
        line
        for line in existing.splitlines()
        if line != _LEGACY_HEADER
        and not owns_authorized_keys_line(line, instance=instance, data_dir=data_dir)
    ]
    return "".join(f"{line}\n" for line in [*kept, *(f"{line} {OWNER_MARK}{instance}" for line in own)])
