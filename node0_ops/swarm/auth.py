"""Shared-key access control for a swarm's DHT: the run key file and a hivemind authorizer.

Design (one shared secret per swarm, handed out by the operator):

* ``swarm start`` writes a key file (JSON, mode 0600): ``{"format": "node0-swarm-key/1",
  "run_id": ..., "secret": <32 random bytes, hex>}``. Whoever holds the file may join.
* Every DHT node has an RSA key (hivemind's process-wide one). :class:`SharedKeyAuthorizer`
  (a hivemind ``TokenAuthorizerBase``, protocol of hivemind issue #253) mints an
  ``AccessToken`` for that RSA public key whose ``signature`` is
  ``HMAC-SHA256(secret, "node0-swarm-token/1" || len-prefixed username, public key, expiry)``
  (RFC 2104). Requests and responses are then RSA-signed by hivemind itself with the key the
  token names, carry a nonce and a timestamp (replays older than 1 minute or seen before are
  refused), and are checked against the token.
* A peer without the secret cannot mint a valid token for its own RSA key, and a captured
  token is useless without the matching RSA private key, so its DHT requests are refused
  and it refuses the answers of real peers: ``DHT(...)`` fails with "bootstrap failed".

Limits (say them to operators):

* This protects **DHT traffic only** (membership, progress records, matchmaking keys). The
  averagers' own RPCs (all-reduce parts, ``load_state_from_peers`` downloads) are not
  authorized by hivemind 1.1.12: a host that learns a member's PeerID and the run_id could
  still call them directly. Keep swarms on loopback / a private network or VPN.
* It is a shared secret, not per-peer identity: any holder can mint tokens; revoke by
  starting a new run with a new key. Peer clocks must agree within 1 minute.

Usage::

    key = SwarmKey.generate(run_id)
    key.save("swarm.key")
    authorizer = SharedKeyAuthorizer(SwarmKey.load("swarm.key"))
    dht = hivemind.DHT(start=True, authorizer=authorizer, ...)   # see peer.start_dht
"""

import hashlib
import hmac
import json
import os
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hivemind.proto.auth_pb2 import AccessToken
from hivemind.utils.auth import TokenAuthorizerBase

KEY_FORMAT = "node0-swarm-key/1"
TOKEN_DOMAIN = b"node0-swarm-token/1"
SECRET_BYTES = 32


@dataclass(frozen=True)
class SwarmKey:
    """The shared secret of a swarm plus the run it was made for.

    Attributes:
        secret: 32 random bytes (``secrets.token_bytes``).
        run_id: run the key was generated for (informational: several runs may share one DHT/key).
    """

    secret: bytes
    run_id: str

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_BYTES:
            raise ValueError(f"swarm secret must be {SECRET_BYTES} bytes, got {len(self.secret)}")

    @classmethod
    def generate(cls, run_id: str) -> "SwarmKey":
        """A fresh random key for ``run_id``."""
        return cls(secrets.token_bytes(SECRET_BYTES), run_id)

    @property
    def fingerprint(self) -> str:
        """8 hex chars identifying the secret (safe to print; not the secret)."""
        return hashlib.sha256(b"fingerprint:" + self.secret).hexdigest()[:8]

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the key file with mode 0600.

        Raises:
            FileExistsError: the file exists and ``overwrite`` is False (never clobber a live key).
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"key file {path} exists; pass it with --key-file to reuse it, or delete it first")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"format": KEY_FORMAT, "run_id": self.run_id, "secret": self.secret.hex()}, indent=1)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(data + "\n")
        os.chmod(path, 0o600)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SwarmKey":
        """Read a key file written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file (ask the operator who ran ``swarm start`` for it).
            ValueError: not a node0 swarm key (message names the file and the problem).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"swarm key file {path} not found; get it from the operator who ran "
                                    "`node0-finetune swarm start`")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a swarm key file (invalid JSON: {exc})") from exc
        if not isinstance(data, dict) or data.get("format") != KEY_FORMAT:
            raise ValueError(f"{path}: format is {data.get('format') if isinstance(data, dict) else None!r}, "
                             f"expected {KEY_FORMAT!r}")
        try:
            secret = bytes.fromhex(data["secret"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: 'secret' must be {SECRET_BYTES * 2} hex chars") from exc
        if len(secret) != SECRET_BYTES:
            raise ValueError(f"{path}: 'secret' must be {SECRET_BYTES * 2} hex chars, got {len(secret) * 2}")
        return cls(secret, str(data.get("run_id", "")))


def _token_mac(secret: bytes, username: str, public_key: bytes, expiration_time: str) -> bytes:
    """HMAC-SHA256 over length-prefixed token fields (no field can bleed into another)."""
    msg = TOKEN_DOMAIN
    for part in (username.encode(), public_key, expiration_time.encode()):
        msg += struct.pack(">I", len(part)) + part
    return hmac.new(secret, msg, hashlib.sha256).digest()


class SharedKeyAuthorizer(TokenAuthorizerBase):
    """hivemind ``TokenAuthorizerBase`` whose tokens are HMAC-signed with the swarm secret.

    Pass it to ``hivemind.DHT(..., authorizer=...)``. Protects DHT traffic only (see module
    docstring). Tokens live ``token_ttl`` and are renewed 5 minutes before expiry.

    Args:
        key: the swarm's :class:`SwarmKey`.
        username: label written into tokens (default: the key's run_id); not trusted for anything.
        token_ttl: token lifetime.
        local_private_key: hivemind ``RSAPrivateKey`` (default: the process-wide one).
    """

    def __init__(self, key: SwarmKey, username: str | None = None,
                 token_ttl: timedelta = timedelta(hours=1), local_private_key=None):
        super().__init__(local_private_key)
        self._secret = key.secret
        self._username = username if username is not None else key.run_id
        self._ttl = token_ttl

    async def get_token(self) -> AccessToken:
        expiration = (datetime.now(timezone.utc) + self._ttl).isoformat()
        pub = self.local_public_key.to_bytes()
        return AccessToken(username=self._username, public_key=pub, expiration_time=expiration,
                           signature=_token_mac(self._secret, self._username, pub, expiration))

    def is_token_valid(self, access_token: AccessToken) -> bool:
        expected = _token_mac(self._secret, access_token.username, access_token.public_key,
                              access_token.expiration_time)
        if not hmac.compare_digest(expected, access_token.signature):
            return False
        try:
            expiration = datetime.fromisoformat(access_token.expiration_time)
        except ValueError:
            return False
        return expiration.tzinfo is not None and expiration > datetime.now(timezone.utc)

    def does_token_need_refreshing(self, access_token: AccessToken) -> bool:
        expiration = datetime.fromisoformat(access_token.expiration_time)
        return expiration < datetime.now(timezone.utc) + timedelta(minutes=5)
