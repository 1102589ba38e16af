"""One sweep at a time in a results folder: a lock file, without Hydra.

A sweep holds `results/<name>/sweep.lock` from its start to its end. The file is created
atomically (`O_CREAT | O_EXCL`: of two sweeps started at once, exactly one gets it) and
holds its owner's process id, host and start time. A second sweep of the same name is
refused with a `ConfigError` naming the folder, the owner and what to do; a lock whose
process is gone (same host, no such process: a sweep killed with SIGKILL) is stale and
taken over with a note. The lock is removed when the sweep ends, and at interpreter exit
if the sweep failed or was interrupted.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import time
from pathlib import Path

from simulator.errors import ConfigError

LOCK_FILE = "sweep.lock"

_held: set[Path] = set()  # locks this process holds (released at exit at the latest)


def acquire(sweep_dir: Path, name: object, command: list[str] | None = None) -> Path:
    """Create `sweep_dir/sweep.lock` for this process, or raise a ConfigError on `name`
    if another live sweep holds it. Returns the lock's path."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / LOCK_FILE
    if command is None:  # as typed: `python -m simulator ...`, `.../trainsim ...`
        command = list(getattr(sys, "orig_argv", sys.argv))
        command[0] = Path(command[0]).name
    owner = {"pid": os.getpid(), "host": socket.gethostname(),
             "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(command)}
    for _ in range(3):  # a stale lock removed by two sweeps at once: one wins the retry
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            holder = read_owner(path)
            if holder is None or not is_stale(holder):
                raise _refusal(sweep_dir, path, name, holder) from None
            print(f"trainsim: {path} was left by a sweep that is no longer running "
                  f"(pid {holder.get('pid')} on {holder.get('host')}, started "
                  f"{holder.get('started')}): taking it over", file=sys.stderr, flush=True)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(owner, handle)
            handle.write("\n")
        _held.add(path)
        return path
    raise _refusal(sweep_dir, path, name, read_owner(path))


def release(path: Path) -> None:
    """Remove the lock at `path` if this process holds it."""
    if path in _held:
        _held.discard(path)
        holder = read_owner(path)
        if holder is not None and holder.get("pid") == os.getpid() \
                and holder.get("host") == socket.gethostname():
            path.unlink(missing_ok=True)


@atexit.register
def release_all() -> None:
    """Remove every lock this process still holds (a failed or interrupted sweep)."""
    for path in list(_held):
        release(path)


def read_owner(path: Path) -> dict | None:
    """The owner recorded in a lock file; None if unreadable (being written, or garbage)."""
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def is_stale(owner: dict) -> bool:
    """Whether the lock's process is gone: only decidable on the host that wrote it."""
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _refusal(sweep_dir: Path, path: Path, name: object, owner: dict | None) -> ConfigError:
    if owner is None:
        who = "a sweep whose lock file cannot be read"
    else:
        who = (f"a sweep running since {owner.get('started')} (pid {owner.get('pid')} on "
               f"{owner.get('host')}: {owner.get('command')})")
    return ConfigError("name", name, (
        f"{sweep_dir} is in use by {who}; wait for it to end, give this sweep another "
        f"name, or delete {path} if that sweep is no longer running"))
