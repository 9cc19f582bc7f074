"""Command families, one module each. Every module declares `COMMANDS`."""

from handlers import help, org

ALL = (help, org)
