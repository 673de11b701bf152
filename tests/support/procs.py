"""Which process is which, from /proc: a gunicorn master's workers, the one serving a socket."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def children(parent: int) -> list[int]:
    """Pids whose parent is `parent` (a gunicorn master's workers)."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # NOTE: the command name (field 2) may hold spaces; fields after its ')' are plain.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return sorted(found)


def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of the loopback TCP connection from `client_port`."""
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if (int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port):
            return fields[9]
    return None


def serving(pids: list[int], server_port: int, client_port: int) -> int | None:
    """Which of `pids` holds the accepted socket of the client connection from `client_port`."""
    inode = _socket_inode(server_port, client_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        fds = PROC / str(pid) / "fd"
        try:
            names = os.listdir(fds)
        except OSError:
            continue
        for name in names:
            try:
                if os.readlink(fds / name) == target:
                    return pid
            except OSError:
                continue
    return None
