"""offers' and needs' vectors of meaning for the matching engine

The engine now also ranks by closeness in a multilingual model's space of meaning. An offer's
vector is stored with its other text features, whose scheme name now also names the model; the
upgrade computes the vectors of the offers already written (about 70 ms an offer: some twenty
minutes for a city's 20,000). A need's vectors are stored sealed, like its description, which the
upgrade cannot read without the keys: the needs already written have none (NULL), and
`flask --app wsgi matching backfill` computes theirs with the portal running (until then a ranking
computes them itself, in about 0.2 s).
The downgrade drops both.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from matching.features import SCHEME, STORED_SCHEME
from matching.semantic import offer_text, offer_vectors, vector_bytes

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OFFER = sa.table("offer", sa.column("id", sa.Uuid()), sa.column("title"), sa.column("description"))
FEATURES = sa.table(
    "offer_features", sa.column("offer_id", sa.Uuid()), sa.column("scheme"), sa.column("vector", sa.LargeBinary())
)
BATCH = 200


def upgrade() -> None:
    with op.batch_alter_table("offer_features") as batch:
        batch.add_column(sa.Column("vector", sa.LargeBinary(), nullable=True))
        batch.alter_column(
            "scheme",
            type_=sqlmodel.sql.sqltypes.AutoString(length=80),
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=40),
            existing_nullable=False,
        )
    with op.batch_alter_table("need") as batch:
        batch.add_column(sa.Column("meaning", sa.Text(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(OFFER.c.id, OFFER.c.title, OFFER.c.description)
        .join(FEATURES, FEATURES.c.offer_id == OFFER.c.id)
        .where(FEATURES.c.scheme == SCHEME)
        .order_by(OFFER.c.id)
    ).all()
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        vectors = offer_vectors([offer_text(row.title, row.description) for row in chunk])
        for row, vector in zip(chunk, vectors, strict=True):
            connection.execute(
                sa.update(FEATURES)
                .where(FEATURES.c.offer_id == row.id)
                .values(scheme=STORED_SCHEME, vector=vector_bytes(vector))
            )


def downgrade() -> None:
    with op.batch_alter_table("need") as batch:
        batch.drop_column("meaning")
    op.execute(sa.update(FEATURES).where(FEATURES.c.scheme == STORED_SCHEME).values(scheme=SCHEME))
    with op.batch_alter_table("offer_features") as batch:
        batch.alter_column(
            "scheme",
            type_=sqlmodel.sql.sqltypes.AutoString(length=40),
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=80),
            existing_nullable=False,
        )
        batch.drop_column("vector")
