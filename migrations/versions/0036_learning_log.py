"""rankings shown to caseworkers, and what they decided, for the ranker to learn from

`ranking_shown` holds one row a ranking the matches page showed for a need of a person in a
programme of PORTAL_LEARNING_PROGRAMMES (none by default): the ranker's digest, and the shown offers
as a JSON list of ids and signals. `ranking_decision` holds the caseworker's approvals and
set-asides of those offers. Both start empty; the downgrade drops them.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-08 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ranking_shown",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("need_id", sa.Uuid(), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ranker_digest", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("offers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["need_id"], ["need.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ranking_shown_need_id_shown_at", "ranking_shown", ["need_id", "shown_at"])
    op.create_table(
        "ranking_decision",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ranking_id", sa.Uuid(), nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ranking_id"], ["ranking_shown.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["offer_id"], ["offer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ranking_decision_ranking_id"), "ranking_decision", ["ranking_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ranking_decision_ranking_id"), table_name="ranking_decision")
    op.drop_table("ranking_decision")
    op.drop_index("ix_ranking_shown_need_id_shown_at", table_name="ranking_shown")
    op.drop_table("ranking_shown")
