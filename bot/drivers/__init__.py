"""Drivers: the local ways to drive the bot (in-memory for tests, the terminal, transcript
replay, the browser simulator). Real outside services are in `bot.transports`."""
