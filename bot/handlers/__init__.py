"""Command families, one module each. Every module declares `COMMANDS`."""

from bot.handlers import help, notices, org, points, progress, rankings, reminders

ALL = (help, org, progress, points, reminders, notices, rankings)
