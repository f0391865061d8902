"""The operator's contributor key: Ed25519 (RFC 8032) through ``cryptography``, in OpenSSH files.

A corpus bundle (:mod:`node0_ops.corpus.bundle`) is signed with this key; its public half
travels in the bundle's manifest and its fingerprint names the contributor in the
``contributions`` table. Keys are OpenSSH files, so an unencrypted ``~/.ssh/id_ed25519`` works
with ``--key`` and ``ssh-keygen -lf`` prints the same fingerprint.

Usage::

    from node0_ops.corpus.contributor_key import load_or_create_key, public_key_line, fingerprint
    key, path, created = load_or_create_key(None, state_dir())   # <state>/keys/contributor_ed25519
    line = public_key_line(key.public_key())      # 'ssh-ed25519 AAAAC3Nz...'
    fingerprint(line)                             # 'SHA256:Nq7...' (43 base64 chars, no padding)

Files: the private key is written with mode 0600 (its folder 0700) and refused when group or
others can read it (as OpenSSH does); ``<key>.pub`` holds the public line.
"""

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DEFAULT_KEY = Path("keys") / "contributor_ed25519"  # under the state directory


class KeyFileError(ValueError):
    """A key file that cannot be used (unreadable, wrong type, encrypted, too open)."""


def public_key_line(public: Ed25519PublicKey) -> str:
    """OpenSSH public-key line ``ssh-ed25519 <base64 wire blob>`` (RFC 8709 §4)."""
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def parse_public_key(line: str) -> Ed25519PublicKey:
    """Inverse of :func:`public_key_line`.

    Raises:
        KeyFileError: not an OpenSSH ``ssh-ed25519`` line.
    """
    try:
        key = serialization.load_ssh_public_key(line.strip().encode())
    except (ValueError, TypeError, UnicodeError) as exc:
        raise KeyFileError(f"public key {line[:40]!r}... is not an OpenSSH ssh-ed25519 line ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"public key {line[:40]!r}... is a {type(key).__name__}, not Ed25519")
    return key


def fingerprint(line: str) -> str:
    """``SHA256:<unpadded base64>`` of the key's wire blob, as ``ssh-keygen -l`` prints it.

    Raises:
        KeyFileError: the line has no base64 blob.
    """
    parts = line.split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, ValueError):
        raise KeyFileError(f"public key {line[:40]!r}... has no base64 key blob") from None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _check_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"key file {path} has mode {mode:o}: others can read it; run `chmod 600 {path}`")


def load_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """Read an unencrypted Ed25519 private key (OpenSSH or PKCS#8 PEM).

    Raises:
        KeyFileError: missing/unreadable file, mode open to group/others, encrypted key,
            not a key, or not Ed25519 (each message names the file).
    """
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"key file {path}: {exc.strerror or exc}") from None
    _check_mode(path)
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"key file {path} is passphrase-protected; give an unencrypted Ed25519 key "
                           "(e.g. the generated one: leave --key out)") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"key file {path} is not an OpenSSH/PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} holds a {type(key).__name__}; bundles are signed with Ed25519 "
                           "(ssh-keygen -t ed25519, or leave --key out to generate one)")
    return key


def create_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """Generate a key into ``path`` (mode 0600, OpenSSH format) and ``path.pub``.

    Raises:
        FileExistsError: ``path`` exists (never overwritten).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    path.with_name(path.name + ".pub").write_text(public_key_line(key.public_key()) + " gastown-contributor\n")
    return key


def load_or_create_key(key_file: str | os.PathLike | None,
                       state: str | os.PathLike) -> tuple[Ed25519PrivateKey, Path, bool]:
    """``(key, path, created)``: ``key_file`` when given, else ``<state>/keys/contributor_ed25519``,
    generated on first use.

    Raises:
        KeyFileError: see :func:`load_key` (a given ``key_file`` is never generated).
    """
    if key_file:
        return load_key(key_file), Path(key_file).expanduser(), False
    path = Path(state) / DEFAULT_KEY
    if path.exists():
        return load_key(path), path, False
    return create_key(path), path, True

