"""`taskmanager` subcommands that talk to a server over HTTP: worker, tasks, types, stats.

Each module's `register(subparsers, commands)` is an entry point of the `taskmanager.commands`
group (see engine/cli.py), so they sit beside serve, migrate, seed, endpoints and keys.
"""
