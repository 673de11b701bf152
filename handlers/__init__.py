"""TaskManager's custom handlers; importing this package registers them all by name."""

from handlers import admin, health  # noqa: F401
