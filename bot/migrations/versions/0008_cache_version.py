"""cache_version: the token the per-process cache is keyed by, bumped by triggers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from bot.models.cache import cache_ddl, drop_ddl

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cache_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    for stmt in cache_ddl(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_ddl(op.get_bind().dialect.name):
        op.execute(stmt)
    op.drop_table('cache_version')
