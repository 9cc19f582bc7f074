"""Alembic, driven from code: the migrations live in bot/migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade_head(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")


def stamp_head(engine: Engine) -> None:
    command.stamp(alembic_config(engine), "head")
