"""Several WeChat accounts: bot_account (alive or not), account_room (which groups
each is in), and outbox.account (the account that sends a row)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:52:58.372812
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.models.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('account_room',
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('room_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('seen_at', bot.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account', 'room_id')
    )
    with op.batch_alter_table('account_room', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_room_room_id'), ['room_id'], unique=False)

    op.create_table('bot_account',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('heartbeat_at', bot.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status_since', bot.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('account')

    op.drop_table('bot_account')
    with op.batch_alter_table('account_room', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_room_room_id'))

    op.drop_table('account_room')
