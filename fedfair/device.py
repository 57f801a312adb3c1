"""Where clients compute: the ``device`` run parameter and the simulation's per-client resources.

``device`` is ``auto`` (CUDA when the node has it, else the CPU), ``cpu``, ``cuda`` (the node's current CUDA
device: the GPU Ray assigned to the client when ``client-num-gpus`` > 0) or ``cuda:K``. The server sends it in
every message (:data:`fedfair.protocol.DEVICE`); each ClientApp resolves it on its own node
(:func:`resolve_device`), so one run can mix CPU and GPU SuperNodes.

- :func:`check_device`: on the machine that launches a run, before any Ray process starts: ``cuda`` without
  a CUDA device, or ``cuda:3`` with fewer devices, fails with one line naming the problem and the fix;
- :func:`client_resources`: Ray's per-client ``{"num_cpus", "num_gpus"}`` from ``device``,
  ``client-num-cpus`` and ``client-num-gpus`` (the default GPU share is chosen there);
- :func:`resolve_device`: the ``torch.device`` a node trains and evaluates on.

torch is imported only when a check needs it (the parameter table stays importable without it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from fedfair.config import DEVICE_PATTERN, DEVICE_VALUES, ParamError

CUDA_INSTALL = "pip install torch --index-url https://download.pytorch.org/whl/cu124"


def is_device(value: Any) -> bool:
    """Whether ``value`` is a well-formed ``device`` value (auto, cpu, cuda, cuda:K)."""
    return isinstance(value, str) and DEVICE_PATTERN.fullmatch(value) is not None


def parse_device(value: Any) -> tuple[str, int | None]:
    """``"cuda:1"`` -> ``("cuda", 1)``, ``"auto"`` -> ``("auto", None)``; ParamError (one line) when malformed."""
    match = DEVICE_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ParamError(f"device={value!r} is not a device: use {DEVICE_VALUES}")
    kind = "cuda" if value.startswith("cuda") else value
    return kind, None if match.group(1) is None else int(match.group(1))


def cuda_count() -> int:
    """CUDA devices torch sees in this process (0 without CUDA or with a CPU-only torch build)."""
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def _no_cuda_reason() -> str:
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"no GPU visible (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else "no GPU found"


def check_device(value: Any) -> str:
    """Check ``device`` against this machine (before a run starts): returns the value, or raises ParamError with
    one line naming the problem and the fix (malformed value; ``cuda`` / ``cuda:K`` without CUDA; K too large).
    ``auto`` and ``cpu`` always pass."""
    kind, index = parse_device(value)
    if kind != "cuda":
        return value
    count = cuda_count()
    if count == 0:
        raise ParamError(f"device={value} but torch finds no CUDA device on this machine ({_no_cuda_reason()}): "
                         f"use device=auto or device=cpu, or on a CUDA machine install a CUDA build of torch "
                         f"({CUDA_INSTALL})")
    if index is not None and index >= count:
        raise ParamError(f"device={value} but this machine has {count} CUDA device(s) (cuda:0 to cuda:{count - 1}): "
                         f"use one of them, or device=cuda")
    return value


def resolve_device(value: Any = "auto"):  # noqa: ANN201 (torch.device; torch imported lazily)
    """The ``torch.device`` a node computes on for ``device`` = ``value``: auto = ``cuda`` when torch sees a
    CUDA device here, else ``cpu``. ValueError (one line, with the fix) for a CUDA device this node lacks:
    under Ray with ``client-num-gpus`` > 0 a client sees only the GPU it was given, as ``cuda:0``."""
    import torch

    kind, index = parse_device(value)
    if kind == "cpu":
        return torch.device("cpu")
    count = cuda_count()
    if kind == "auto":
        return torch.device("cuda" if count else "cpu")
    if count == 0:
        raise ValueError(f"device={value} but this node sees no CUDA device ({_no_cuda_reason()}): use device=auto "
                         f"or device=cpu, or give the clients GPUs (client-num-gpus > 0)")
    if index is not None and index >= count:
        raise ValueError(f"device={value} but this node sees {count} CUDA device(s) (with client-num-gpus > 0 Ray "
                         f"shows each client only its own GPU, as cuda:0): use device=cuda")
    return torch.device("cuda" if index is None else f"cuda:{index}")


def _share(value: float) -> float:
    """A GPU share Ray accepts (multiples of 0.0001), rounded down so that the shares of one GPU fit in it."""
    return max(math.floor(value * 10_000) / 10_000, 0.0001)


def client_resources(params: Mapping[str, Any], cores: int | None = None) -> dict[str, float]:
    """Ray's resources per simulated client from the run parameters ``device`` (default auto),
    ``client-num-cpus`` (default 1) and ``client-num-gpus`` (default 0); checks them against this machine first
    (:func:`check_device`; ParamError, one line).

    ``client-num-gpus`` = 0 with ``device`` auto or cuda on a machine with G CUDA devices chooses the share
    G / (clients that run at once on the ``cores``: floor(cores / client-num-cpus)), at most 1 (rounded down to
    Ray's 0.0001 steps): the same number of clients run at once as on the CPU, spread evenly over the GPUs, each
    seeing only its own. A value > 0 is kept as given (fractional: 0.25 = four clients per GPU). With
    ``RAY_ADDRESS`` set (joining a Ray cluster whose GPUs this machine cannot see) the values are used as given
    without the local CUDA checks.
    """
    device = params.get("device", "auto")
    cpus = float(params.get("client-num-cpus", 1.0))
    gpus = float(params.get("client-num-gpus", 0.0))
    kind, index = parse_device(device)
    if cpus < 0.0001 or (gpus != 0 and gpus < 0.0001):
        raise ParamError(f"client-num-cpus={cpus:g} / client-num-gpus={gpus:g}: Ray counts resources in steps of "
                         f"0.0001; use client-num-cpus >= 0.0001 and client-num-gpus 0 or >= 0.0001")
    if kind == "cpu" and gpus > 0:
        raise ParamError(f"client-num-gpus={gpus:g} reserves GPUs that device=cpu never uses: set client-num-gpus=0, "
                         f"or device=auto / cuda to train on them")
    if os.environ.get("RAY_ADDRESS"):
        return {"num_cpus": cpus, "num_gpus": gpus}
    check_device(device)
    count = cuda_count() if kind != "cpu" else 0
    if gpus > 0 and count == 0:
        raise ParamError(f"client-num-gpus={gpus:g} but torch finds no CUDA device on this machine "
                         f"({_no_cuda_reason()}): set client-num-gpus=0, or install a CUDA build of torch "
                         f"({CUDA_INSTALL})")
    if gpus > 0 and index is not None and index > 0:
        raise ParamError(f"device={device} with client-num-gpus={gpus:g}: Ray shows each client only the GPU it "
                         f"assigns, as cuda:0; use device=cuda (or client-num-gpus=0 to put every client on {device})")
    if gpus == 0 and count and index is None:  # auto / cuda on a CUDA machine: share the GPUs evenly
        at_once = max(1, int((cores or os.cpu_count() or 1) // cpus))
        gpus = _share(min(1.0, count / at_once))
    return {"num_cpus": cpus, "num_gpus": gpus}


RESOURCE_KEYS = ("device", "client-num-cpus", "client-num-gpus")


def simulation_resources(run_configs: Sequence[Mapping[str, Any]], cores: int | None = None) -> dict[str, float]:
    """Ray's per-client resources of one simulation from its runs' ``device``, ``client-num-cpus`` and
    ``client-num-gpus`` (validated, defaults for absent keys; :func:`client_resources`, which checks them against
    this machine). Ray starts once for all the runs of a simulation, so they must agree: ParamError (one line,
    naming both settings) otherwise."""
    from fedfair.config import COMMON_PARAMS, validate_params

    specs = {k: COMMON_PARAMS[k] for k in RESOURCE_KEYS}
    chosen: list[tuple[dict[str, Any], dict[str, float]]] = []
    for run_config in run_configs or [{}]:
        values = validate_params({k: run_config[k] for k in RESOURCE_KEYS if k in run_config}, specs)
        chosen.append((values, client_resources(values, cores)))
    for values, resources in chosen[1:]:
        if resources != chosen[0][1]:
            first = " ".join(f"{k}={v}" for k, v in chosen[0][0].items())
            other = " ".join(f"{k}={v}" for k, v in values.items())
            raise ParamError(f"the runs of one simulation share Ray's client resources, but one run has {first} and "
                             f"another {other}: give every run the same device / client-num-cpus / client-num-gpus, "
                             f"or simulate them separately")
    return chosen[0][1]
