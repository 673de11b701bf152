"""The `taskmanager schedules` and `taskmanager scheduler` commands (the ticks are in handlers/)."""
