"""Security primitives: password hashing, API tokens, PII encryption at rest and keyed hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

from core.settings import Settings

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Hash a password with argon2id at the configured costs."""
    return _hasher.hash(password)


def password_needs_rehash(password_hash: str) -> bool:
    """Tell whether a stored hash was made with other costs than the configured ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def verify_password(password_hash: str, password: str) -> bool:
    """Check a password against its argon2 hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(nbytes: int = 32) -> str:
    """Return a new random URL-safe token."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """Return the SHA-256 hex digest under which a high-entropy token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"petition-intake", info=label).derive(secret.encode())


class PiiCipher:
    """Encrypt personal data (AES-256-GCM) and make keyed hashes of it for exact lookup."""

    PREFIX = "v1:"

    def __init__(self, pii_key: str):
        self._aead = AESGCM(_derive(pii_key, b"pii-encryption"))
        self._lookup_key = _derive(pii_key, b"pii-lookup")

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a string; the same plaintext gives a different ciphertext every time."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return self.PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt what ``encrypt`` produced; raises ValueError on a foreign or altered value."""
        if not token.startswith(self.PREFIX):
            raise ValueError("not an encrypted value")
        raw = base64.urlsafe_b64decode(token[len(self.PREFIX):])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], None).decode()
        except InvalidTag:
            raise ValueError("encrypted value does not match the key") from None

    def lookup_hash(self, value: str) -> str:
        """Return a keyed hash of a normalised value, for equality search without decryption."""
        normalised = "".join(value.split()).upper()
        return hmac.new(self._lookup_key, normalised.encode(), hashlib.sha256).hexdigest()


class Signer:
    """Keyed MACs over bytes (the audit chain and signed values)."""

    def __init__(self, secret_key: str, purpose: bytes):
        self._key = _derive(secret_key, purpose)

    def sign(self, data: bytes) -> str:
        """Return the hex HMAC-SHA256 of data."""
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, mac: str) -> bool:
        """Check a MAC in constant time."""
        return hmac.compare_digest(self.sign(data), mac)


_cipher: PiiCipher | None = None
_audit_signer: Signer | None = None


def configure(settings: Settings) -> None:
    """Set the process-wide keys from settings."""
    global _cipher, _audit_signer, _hasher
    _cipher = PiiCipher(settings.pii_key.get_secret_value())
    # argon2 wants at least 8 KiB per lane.
    _hasher = PasswordHasher(time_cost=settings.password_hash_time_cost, parallelism=settings.password_hash_parallelism,
                             memory_cost=max(settings.password_hash_memory_kib, 8 * settings.password_hash_parallelism))
    _audit_signer = Signer(settings.secret_key.get_secret_value(), b"audit-chain")


def pii() -> PiiCipher:
    """Return the process-wide PII cipher."""
    if _cipher is None:
        from core.settings import get_settings

        configure(get_settings())
    return _cipher


def audit_signer() -> Signer:
    """Return the process-wide signer of the audit chain."""
    if _audit_signer is None:
        from core.settings import get_settings

        configure(get_settings())
    return _audit_signer


class EncryptedText(TypeDecorator):
    """A string column stored encrypted with the PII key; reads return the plaintext."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else pii().encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else pii().decrypt(value)


def mask_name(name: str | None) -> str | None:
    """Mask a personal name for display to staff without access to personal data (张三 → 张*)."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number (13812341234 → 138****1234)."""
    if not phone:
        return phone
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)
