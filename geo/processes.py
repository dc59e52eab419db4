"""Several processes as one job (`jax.distributed`), joined from the environment.

`geo run` and `geo sweep` call `initialize_from_environment()` before any JAX work:

- `JAX_COORDINATOR_ADDRESS=host:port`, `JAX_NUM_PROCESSES=N` and `JAX_PROCESS_ID=i` (all
  three, e.g. from a job script) join process i of N through the coordinator, which process
  0 starts at that address;
- `GEO_DISTRIBUTED=1` lets JAX detect the cluster itself (SLURM `srun`, Open MPI, Cloud TPU
  pods, Kubernetes);
- neither: one process, as on a workstation.

Every process runs the same command; they see all the job's devices, compute together, and
only process 0 writes files (`is_primary`).
"""

from __future__ import annotations

import os

import jax

EXPLICIT = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
AUTO = "GEO_DISTRIBUTED"


def distributed_arguments(environ=os.environ) -> dict | None:
    """The keyword arguments of `jax.distributed.initialize` the environment asks for: None
    for one process, {} for JAX's cluster detection; a ValueError on a partial setting."""
    given = [name for name in EXPLICIT if environ.get(name)]
    if given and len(given) < len(EXPLICIT):
        missing = ", ".join(n for n in EXPLICIT if n not in given)
        raise ValueError(f"{', '.join(given)} set but not {missing}: set all three or none")
    if given:
        try:
            count, index = int(environ["JAX_NUM_PROCESSES"]), int(environ["JAX_PROCESS_ID"])
        except ValueError:
            raise ValueError("JAX_NUM_PROCESSES and JAX_PROCESS_ID must be integers") from None
        if not 0 <= index < count:
            raise ValueError(f"JAX_PROCESS_ID={index} must lie in [0, {count})")
        return dict(
            coordinator_address=environ["JAX_COORDINATOR_ADDRESS"],
            num_processes=count,
            process_id=index,
        )
    if environ.get(AUTO, "") not in ("", "0"):
        return {}
    return None


def initialize_from_environment(environ=os.environ) -> bool:
    """Join the job the environment describes (see the module docstring); True if this
    process is one of several."""
    arguments = distributed_arguments(environ)
    if arguments is None:
        return False
    jax.distributed.initialize(**arguments)
    return jax.process_count() > 1


def is_primary() -> bool:
    """Whether this process writes the job's files (process 0; the only one when alone)."""
    return jax.process_index() == 0
