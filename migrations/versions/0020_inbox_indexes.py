"""the provider's inbox finds its referrals by offer, state and answer deadline through one index

The inbox and the provider's home count referrals by state and page through them, those waiting
for an answer first by deadline; without this index each view reads every referral of the offers.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 13:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral") as batch:
        batch.create_index("ix_referral_offer_id_status_respond_by", ["offer_id", "status", "respond_by"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("referral") as batch:
        batch.drop_index("ix_referral_offer_id_status_respond_by")
