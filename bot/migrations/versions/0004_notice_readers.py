"""Per-person acknowledgement of notices: notice.everyone, notice_target.anyone and
chased_at, and the notice_reader table

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.models.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('everyone', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    # Notices sent before: acknowledged per group by anyone, as they were.
    with op.batch_alter_table('notice_target', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anyone', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.add_column(sa.Column('chased_at', bot.models.types.UTCDateTime(timezone=True),
                                      nullable=True))
    op.create_table('notice_reader',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('acked_at', bot.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ack_msg_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notice_id', 'room_id', 'person_id')
    )
    with op.batch_alter_table('notice_reader', schema=None) as batch_op:
        batch_op.create_index('ix_notice_reader_person', ['room_id', 'person_id', 'acked_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notice_reader', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_reader_person')
    op.drop_table('notice_reader')
    with op.batch_alter_table('notice_target', schema=None) as batch_op:
        batch_op.drop_column('chased_at')
        batch_op.drop_column('anyone')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_column('everyone')
