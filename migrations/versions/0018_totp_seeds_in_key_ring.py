"""two-step seeds sealed with the key ring, like every other encrypted column

Until now a seed had its own AES-GCM scheme under PORTAL_TOTP_KEY (or a key derived from
SECRET_KEY), which `keys rotate` could not reach. The data step opens each seed with that retired
key and seals it with the key ring, bound to `user|totp_secret|id`; the downgrade does the
reverse. Run it as `flask --app wsgi db upgrade` with the portal's settings, PORTAL_TOTP_KEY
still set if it was; remove PORTAL_TOTP_KEY afterwards. Without them it only runs on a database
where nobody has set up two-step sign-in.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 09:00:00.000000
"""

import base64
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import context, op
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.crypto import NONCE_BYTES, KeyRing, aad

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER = sa.table("user", sa.column("id"), sa.column("totp_secret", sa.Text))
RETIRED_FORMAT = "v1"


def _retired_key(settings: Mapping[str, Any]) -> bytes:
    """The key the seeds were sealed with: PORTAL_TOTP_KEY when it was set, else derived from SECRET_KEY."""
    configured = settings.get("TOTP_KEY") or ""
    if configured:
        key = base64.b64decode(configured)
        if len(key) != 32:
            raise RuntimeError("PORTAL_TOTP_KEY must be 32 bytes, base64-encoded")
        return key
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"bridge totp seeds")
    return hkdf.derive(str(settings["SECRET_KEY"]).encode())


def _keys(connection: sa.Connection) -> tuple[KeyRing, bytes] | None:
    """The key ring and the retired key, or None when no seed is stored; refuses to go on without them."""
    if connection.execute(sa.select(USER.c.id).where(USER.c.totp_secret.is_not(None)).limit(1)).first() is None:
        return None
    ring = context.config.attributes.get("keyring")
    settings = context.config.attributes.get("settings")
    if ring is None or settings is None or not settings.get("SECRET_KEY"):
        raise RuntimeError(
            "Two-step seeds to move: run `flask --app wsgi db upgrade` with the portal's keys and"
            " SECRET_KEY set (and PORTAL_TOTP_KEY, if it was)."
        )
    return ring, _retired_key(settings)


def _user_id(row_id: Any) -> str:
    """The user's id as the retired scheme bound it in: the UUID with hyphens."""
    return str(row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id)))


def _seeds(connection: sa.Connection) -> list[Any]:
    return list(connection.execute(sa.select(USER.c.id, USER.c.totp_secret).where(USER.c.totp_secret.is_not(None))))


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.alter_column("totp_secret", existing_type=sqlmodel.sql.sqltypes.AutoString(length=300), type_=sa.Text())
    connection = op.get_bind()
    keys = _keys(connection)
    if keys is None:
        return
    ring, retired = keys
    for row in _seeds(connection):
        version, _, payload = row.totp_secret.partition(":")
        if version != RETIRED_FORMAT:
            raise RuntimeError("a two-step seed is not in the retired format")
        raw = base64.b64decode(payload)
        seed = AESGCM(retired).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _user_id(row.id).encode()).decode()
        sealed = ring.seal(seed, aad("user", "totp_secret", row.id))
        connection.execute(sa.update(USER).where(USER.c.id == row.id).values(totp_secret=sealed))


def downgrade() -> None:
    connection = op.get_bind()
    keys = _keys(connection)
    if keys is not None:
        ring, retired = keys
        for row in _seeds(connection):
            seed = ring.open(row.totp_secret, aad("user", "totp_secret", row.id))
            nonce = secrets.token_bytes(NONCE_BYTES)
            sealed = AESGCM(retired).encrypt(nonce, seed.encode(), _user_id(row.id).encode())
            stored = f"{RETIRED_FORMAT}:{base64.b64encode(nonce + sealed).decode()}"
            connection.execute(sa.update(USER).where(USER.c.id == row.id).values(totp_secret=stored))
    with op.batch_alter_table("user") as batch:
        batch.alter_column("totp_secret", existing_type=sa.Text(), type_=sqlmodel.sql.sqltypes.AutoString(length=300))
