"""Start and reliably stop the Flower processes a test launches."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Until something listens on 127.0.0.1:``port`` (a SuperLink that has started), at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def start(cmd: list[str], log: Path, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    """Start ``cmd`` in its own process group, output to ``log``."""
    handle = open(log, "w")
    return subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)


def pids_with(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children by ppid, and Flower's --parent-pid children)."""
    out, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = pids_with(f"--parent-pid {parent}")
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    children.append(int(entry.name))
        for child in set(children) - set(out):
            out.append(child)
            frontier.append(child)
    return out


def stop(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM ``pids`` and everything below them, then SIGKILL what is left."""
    everything = set(pids)
    for pid in pids:
        everything.update(descendants(pid))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in everything:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in everything):
            time.sleep(0.2)
    for pid in everything:  # reap our own children
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
