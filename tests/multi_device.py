"""Run code on several CPU devices, in a fresh interpreter, so the suite keeps its one device.

XLA's host platform gives N CPU devices when XLA_FLAGS has
--xla_force_host_platform_device_count=N before JAX starts; a subprocess gets its own flags
and leaves the devices of the rest of the suite alone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def device_environment(count: int, **extra: str) -> dict:
    """os.environ with `count` CPU devices (and `extra` variables)."""
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "").replace("--xla_force_host_platform_device_count=", "--x=")
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), **extra)
    return env


def run_python(code: str, devices: int, *args: str, timeout: float = 300) -> dict:
    """Run `code` with `devices` CPU devices; returns the JSON object it prints last.

    The code sees its extra arguments in sys.argv[1:] and prints its results with
    `print(json.dumps(...))`; a failure shows the subprocess's error output."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=device_environment(devices),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def geo_command(args: list[str], devices: int, timeout: float = 300, **extra: str):
    """`python -m geo.cli ARGS` with `devices` CPU devices; the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "geo.cli", *args],
        env=device_environment(devices, **extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    """A TCP port nothing listens on now (for a local jax.distributed coordinator)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]
