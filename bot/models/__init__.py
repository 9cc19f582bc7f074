"""Every table, one module per area. Importing this package registers them all."""

from bot.models import accounts, cache, core, jobs, notices, points, progress, rankings  # noqa: F401
from bot.models.accounts import AccountRoom, BotAccount  # noqa: F401
from bot.models.core import (  # noqa: F401
    AuditEntry,
    Household,
    InboundMessage,
    OrgUnit,
    OutboxMessage,
    Person,
    RoleGrant,
    Room,
    RoomMember,
    UnitAlias,
)
from bot.models.jobs import Job, JobRun  # noqa: F401
