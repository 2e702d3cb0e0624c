"""the concepts each offer uses kept as terms of the directory's search

A query's synonyms were looked up word by word: every term of each concept it names, about thirty
index ranges (21,000 entries for "培训" at city size) to show one page. Each offer now also has a
term for each of the vocabulary's concepts it uses ("~training"), so a synonym is one range. The
upgrade writes them for the offers already written; the downgrade deletes them.

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-06 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from portal.offers.search import CONCEPT_MARK, concept_terms

revision: str = "0027"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OFFER = sa.table(
    "offer", sa.column("id", sa.Uuid()), sa.column("title"), sa.column("description"), sa.column("skills", sa.JSON())
)
OFFER_TERM = sa.table("offer_term", sa.column("term"), sa.column("offer_id", sa.Uuid()))
# Every concept term, and no other: each begins with the mark, which no word or character does.
CONCEPT_ROWS = sa.and_(OFFER_TERM.c.term >= CONCEPT_MARK, OFFER_TERM.c.term < CONCEPT_MARK + "\U0010ffff")
BATCH = 500


def upgrade() -> None:
    connection = op.get_bind()
    # Revision 0024 indexes offers with today's code, which already writes these terms.
    connection.execute(sa.delete(OFFER_TERM).where(CONCEPT_ROWS))
    offers = connection.execute(sa.select(OFFER.c.id, OFFER.c.title, OFFER.c.description, OFFER.c.skills))
    while batch := offers.fetchmany(BATCH):
        rows = [
            {"term": term, "offer_id": offer.id}
            for offer in batch
            for term in sorted(concept_terms([offer.title, offer.description, *(offer.skills or [])]))
        ]
        if rows:
            connection.execute(sa.insert(OFFER_TERM), rows)


def downgrade() -> None:
    op.get_bind().execute(sa.delete(OFFER_TERM).where(CONCEPT_ROWS))
