"""Households from real sheets: household.head_name and household.phone (matched by
#认领), and the claim_attempt table that limits wrong guesses

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.models.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.add_column(sa.Column('head_name', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=True))
        batch_op.create_index('ix_household_phone', ['unit_id', 'phone'], unique=False)
    op.create_table('claim_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('at', bot.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('msg_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('claim_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_claim_attempt_person', ['person_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('claim_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_claim_attempt_person')
    op.drop_table('claim_attempt')
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_index('ix_household_phone')
        batch_op.drop_column('phone')
        batch_op.drop_column('head_name')
