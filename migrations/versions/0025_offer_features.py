"""offers' text features stored as they are written; offer.updated_at indexed

A worker assembles its matching index from these rows instead of computing every offer's
features itself, and catches up by `updated_at`. The upgrade computes the features of the
offers already written (about a millisecond an offer); the downgrade drops the table and the index.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import matching
from matching.features import SCHEME, text_digest, text_features

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OFFER = sa.table(
    "offer",
    sa.column("id", sa.Uuid()),
    sa.column("category"),
    sa.column("title"),
    sa.column("description"),
    sa.column("skills", sa.JSON()),
)
BATCH = 500


def upgrade() -> None:
    features = op.create_table(
        "offer_features",
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("scheme", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("ngrams", sa.LargeBinary(), nullable=False),
        sa.Column("concepts", sa.JSON(), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["offer_id"], ["offer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("offer_id"),
    )
    op.create_index(op.f("ix_offer_updated_at"), "offer", ["updated_at"], unique=False)
    connection = op.get_bind()
    rows = connection.execute(sa.select(OFFER).order_by(OFFER.c.id)).all()
    now = datetime.now(UTC)
    for start in range(0, len(rows), BATCH):
        offers = [
            matching.Offer(
                id=str(row.id),
                category=row.category,
                title=row.title,
                description=row.description,
                skills=tuple(row.skills or ()),
            )
            for row in rows[start : start + BATCH]
        ]
        values = [
            {
                "offer_id": row.id,
                "scheme": SCHEME,
                "digest": text_digest(offer),
                "ngrams": found.ngram_bytes(),
                "concepts": found.concepts,
                "hours": sorted(found.hours),
                "computed_at": now,
            }
            for row, offer, found in zip(
                rows[start : start + BATCH], offers, text_features(offers, encode=None), strict=True
            )
        ]
        op.bulk_insert(features, values)


def downgrade() -> None:
    op.drop_index(op.f("ix_offer_updated_at"), table_name="offer")
    op.drop_table("offer_features")
