"""Signed, content-addressed corpus bundle: an uncompressed tar of five fixed members.

Format version 1 (this project's own format)::

    manifest.json         canonical JSON: sorted keys, no spaces, UTF-8
    manifest.sig          base64 of the Ed25519 signature (RFC 8032) of manifest.json's bytes
    examples.jsonl        one SFT example per line (fields: node0_ops.corpus.contribute)
    dpo_pairs.jsonl       one DPO pair per line
    lineage_summary.json  counts only: no paths, records, sources or transcripts

    manifest = {"format": "gastown-corpus-bundle", "format_version": 1,
                "corpus_version": "<16 hex>",
                "contributor": {"public_key": "ssh-ed25519 AAAA..."},
                "counts": {"examples": int, "dpo_pairs": int},
                "members": {"<data member>": {"sha256": "<64 hex>", "bytes": int}, ...}}

The bundle id is the sha256 (hex) of manifest.json's bytes. The tar is written
deterministically (fixed member order, mtime 0, uid/gid 0, mode 0644; Ed25519 signatures are
deterministic), so one corpus signed with one key gives the same bytes and the same id.

Usage::

    from node0_ops.corpus.bundle import read_bundle, write_bundle
    b = write_bundle("bundle.tar", {"examples.jsonl": ..., "dpo_pairs.jsonl": ..., "lineage_summary.json": ...},
                     corpus_version="ab12...", counts={"examples": 3, "dpo_pairs": 1}, key=private_key)
    b = read_bundle("bundle.tar")   # BundleError unless every check below passes
    b.bundle_id, b.fingerprint, b.members["examples.jsonl"]

:func:`read_bundle` never extracts to disk; it refuses (``BundleError`` naming the bundle and
the reason) a file that is not an uncompressed tar, a member with an absolute path, a ``..``
part, an unexpected name, a duplicate name or a non-regular type (link, device, folder), a
missing member, a manifest of another format, a bad signature, and a member whose sha256 or
size differs from the manifest.
"""

import base64
import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node0_ops.corpus.contributor_key import KeyFileError, fingerprint, parse_public_key, public_key_line

FORMAT = "gastown-corpus-bundle"
FORMAT_VERSION = 1
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
DATA_MEMBERS = ("examples.jsonl", "dpo_pairs.jsonl", "lineage_summary.json")
MEMBERS = (MANIFEST, SIGNATURE) + DATA_MEMBERS
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class BundleError(ValueError):
    """A bundle that cannot be written or is refused; the message names the bundle and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"bundle {path} refused: {reason}")


@dataclass(frozen=True)
class Bundle:
    """A verified bundle.

    Attributes:
        path: the tar file.  bundle_id: sha256 hex of the manifest bytes.
        manifest: the decoded manifest.  members: data member name -> bytes.
        public_key: the signer's ``ssh-ed25519`` line.  fingerprint: its ``SHA256:...`` fingerprint.
    """

    path: Path
    bundle_id: str
    manifest: dict
    members: dict
    public_key: str
    fingerprint: str


def canonical_json(obj) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes that are hashed and signed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _tar_member(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
    tf.addfile(info, io.BytesIO(data))


def write_bundle(out: str | os.PathLike, members: dict, *, corpus_version: str, counts: dict,
                 key: Ed25519PrivateKey) -> Bundle:
    """Write a signed bundle atomically (temporary file, then rename).

    Args:
        out: tar path to write.  members: bytes of each of :data:`DATA_MEMBERS`.
        corpus_version: the corpus version the members come from.
        counts: ``{"examples": int, "dpo_pairs": int}`` (lines of the two JSONL members).
        key: the contributor's private key.

    Raises:
        BundleError: a data member is missing or unexpected.
    """
    if set(members) != set(DATA_MEMBERS):
        raise BundleError(out, f"members {sorted(members)} must be exactly {list(DATA_MEMBERS)}")
    pub = public_key_line(key.public_key())
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "corpus_version": corpus_version,
                "contributor": {"public_key": pub}, "counts": dict(counts),
                "members": {n: {"sha256": hashlib.sha256(members[n]).hexdigest(), "bytes": len(members[n])}
                            for n in DATA_MEMBERS}}
    raw = canonical_json(manifest)
    sig = base64.b64encode(key.sign(raw)) + b"\n"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in ((MANIFEST, raw), (SIGNATURE, sig), *((n, members[n]) for n in DATA_MEMBERS)):
            _tar_member(tf, name, data)
    os.replace(tmp, out)
    return Bundle(out, hashlib.sha256(raw).hexdigest(), manifest, dict(members), pub, fingerprint(pub))


def _read_members(path: Path) -> dict[str, bytes]:
    try:
        tf = tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(path, f"not a readable uncompressed tar archive ({exc})") from None
    found: dict[str, bytes] = {}
    with tf:
        try:
            entries = tf.getmembers()
        except (tarfile.TarError, OSError) as exc:
            raise BundleError(path, f"corrupt tar archive ({exc})") from None
        for m in entries:
            p = PurePosixPath(m.name)
            if p.is_absolute() or m.name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", m.name):
                raise BundleError(path, f"member {m.name!r} has an absolute path")
            if ".." in p.parts or ".." in m.name.split("\\"):
                raise BundleError(path, f"member {m.name!r} has a '..' path part")
            if m.name not in MEMBERS:
                raise BundleError(path, f"unexpected member {m.name!r} (a bundle holds only {list(MEMBERS)})")
            if not m.isreg():
                raise BundleError(path, f"member {m.name!r} is not a regular file (links, devices and folders are refused)")
            if m.name in found:
                raise BundleError(path, f"member {m.name!r} appears twice")
            found[m.name] = tf.extractfile(m).read()
    missing = [n for n in MEMBERS if n not in found]
    if missing:
        raise BundleError(path, f"missing member(s) {missing}")
    return found


def _check_manifest(path: Path, manifest) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(path, f"{MANIFEST} is not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(path, f"format_version {manifest.get('format_version')!r} is not supported "
                                f"(this node0-corpus reads {FORMAT_VERSION})")
    mem = manifest.get("members")
    if not isinstance(mem, dict) or set(mem) != set(DATA_MEMBERS):
        raise BundleError(path, f"{MANIFEST} must list exactly the members {list(DATA_MEMBERS)}")
    for name, entry in mem.items():
        if (not isinstance(entry, dict) or not _HEX64.match(str(entry.get("sha256")))
                or not isinstance(entry.get("bytes"), int)):
            raise BundleError(path, f"{MANIFEST}: member {name} needs a 64-hex sha256 and an integer bytes")
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) for k in ("examples", "dpo_pairs")):
        raise BundleError(path, f"{MANIFEST}: counts needs integer examples and dpo_pairs")
    if not isinstance(manifest.get("corpus_version"), str) or not isinstance(manifest.get("contributor"), dict):
        raise BundleError(path, f"{MANIFEST}: corpus_version (string) and contributor (object) are required")


def read_bundle(path: str | os.PathLike) -> Bundle:
    """Open and verify a bundle (see the module docstring for what is refused).

    Raises:
        BundleError: the first failed check, naming the bundle and the reason.
    """
    path = Path(path)
    found = _read_members(path)
    raw = found[MANIFEST]
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(path, f"{MANIFEST} is not UTF-8 JSON ({exc})") from None
    _check_manifest(path, manifest)
    pub = str(manifest["contributor"].get("public_key") or "")
    try:
        public = parse_public_key(pub)
        sig = base64.b64decode(found[SIGNATURE].strip(), validate=True)
        public.verify(sig, raw)
    except KeyFileError as exc:
        raise BundleError(path, f"{MANIFEST}: contributor {exc}") from None
    except (ValueError, InvalidSignature):
        raise BundleError(path, f"{SIGNATURE} is not a valid Ed25519 signature of {MANIFEST} "
                                f"by the contributor key {fingerprint(pub)}") from None
    for name in DATA_MEMBERS:
        data, want = found[name], manifest["members"][name]
        got = hashlib.sha256(data).hexdigest()
        if got != want["sha256"] or len(data) != want["bytes"]:
            raise BundleError(path, f"member {name} has sha256 {got[:16]}... ({len(data)} bytes) but the signed "
                                    f"manifest says {want['sha256'][:16]}... ({want['bytes']} bytes): it was altered")
    return Bundle(path, hashlib.sha256(raw).hexdigest(), manifest, {n: found[n] for n in DATA_MEMBERS},
                  pub, fingerprint(pub))
