"""the directory's search index: each offer's terms in offer_term, and the directory's order indexed

The directory searched with LIKE '%…%' over the whole offer table. Its words are now kept as terms
(portal/offers/search.py: words, pairs of Chinese characters), one row each, found through an
index; existing offers are indexed here. The directory's order (most recently confirmed first)
gets an index too, so a page reads only its own rows.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from portal.models import OFFER_TERM_LENGTH
from portal.offers.search import index_terms

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OFFER = sa.table(
    "offer", sa.column("id", sa.Uuid()), sa.column("title"), sa.column("description"), sa.column("skills", sa.JSON())
)
OFFER_TERM = sa.table("offer_term", sa.column("term"), sa.column("offer_id", sa.Uuid()))
BATCH = 500


def upgrade() -> None:
    term = sa.String(OFFER_TERM_LENGTH).with_variant(sa.String(OFFER_TERM_LENGTH, collation="C"), "postgresql")
    op.create_table(
        "offer_term",
        sa.Column("term", term, nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["offer_id"], ["offer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term", "offer_id"),
    )
    op.create_index("ix_offer_term_offer_id", "offer_term", ["offer_id"])
    op.create_index("ix_offer_last_confirmed_at_id", "offer", ["last_confirmed_at", "id"])
    connection = op.get_bind()
    offers = connection.execute(sa.select(OFFER.c.id, OFFER.c.title, OFFER.c.description, OFFER.c.skills))
    while batch := offers.fetchmany(BATCH):
        rows = [
            {"term": term, "offer_id": offer.id}
            for offer in batch
            for term in sorted(index_terms([offer.title, offer.description, *(offer.skills or [])]))
        ]
        if rows:
            connection.execute(sa.insert(OFFER_TERM), rows)


def downgrade() -> None:
    op.drop_index("ix_offer_last_confirmed_at_id", table_name="offer")
    op.drop_index("ix_offer_term_offer_id", table_name="offer_term")
    op.drop_table("offer_term")
