"""CPU against GPU: seconds per FedAvg round on the CI-MNIST CNN and on the 47-state ACS MLP.

    python benchmarks/bench_gpu.py [--rounds 3] [--max-train 500] [--max-test 1000] [--mode both]
    python benchmarks/bench_gpu.py --smoke DIR   # seconds, on the CPU: both workloads on stand-in data, files in DIR

Workloads (same seed, same settings on every device):

- ``ci-mnist``: CI-MNIST, size bias (seed 004; built from ``--data-root``/mnist: 10 clients (``--ci-mnist-clients``) of a
  few hundred 3 x 28 x 28 images), the CNN (2 conv + 2 fc layers), batch 32, lr 0.05, 1 local epoch;
- ``acs``: FeDa4Fair's attribute-silo release (47 states), at most ``--max-train`` training and ``--max-test``
  test rows per state, MLP 32, batch 32, lr 0.05, 1 local epoch.

Two measures per device (``--mode``):

- ``loop``: the ClientApp's work for one FedAvg round in this process, one client after the other (build the
  model on the device, load the sent weights from an ArrayRecord, ``train_local``, reply the weights as an
  ArrayRecord; average; every client evaluates the new model on its test split), one CPU thread as in a
  ClientApp: the compute a device saves, without Ray;
- ``app``: ``fedfair run`` through Flower's simulation (Ray) with ``device=cpu`` / ``device=cuda``
  (``client-num-gpus`` left to its default: the GPU shared by the clients that run at once).

Seconds per round exclude the first round (CUDA start-up, data loading, the device cache filling): the mean
of rounds 2..R (``--rounds`` >= 2). On a machine without CUDA only the CPU side runs and the report says so;
no GPU figure is estimated. Writes benchmarks/gpu_results.json (``--out``) and prints the table that
``render_markdown`` makes of it.

``--smoke DIR`` checks the pipeline in seconds, on the CPU only (even where CUDA is there; the JSON's
``devices`` says which ran): the same builds, loop and app measures, 2 rounds, at most 16 training and 16 test
rows per client, 2 CI-MNIST clients, from offline stand-ins of ``--data-root``'s files written into DIR
(``mnist/mnist_5k.csv.gz`` from scikit-learn's 8 x 8 digits scaled up to 28 x 28, 200 images; the attribute-silo
release from the synthetic-acs generator, 4 states of about 80 rows); DIR/gpu_results.json (``"smoke": true``)
and DIR/bench_gpu.md go in DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

OUT = REPO / "benchmarks" / "gpu_results.json"
# --smoke's sizes (overridable by the options): the fewest rounds that leave a timed round, a few rows per client
# (and 2 CI-MNIST clients: each client's 2,352 pixel columns take a quarter second to write per split)
SMOKE = {"rounds": 2, "max_train": 16, "max_test": 16, "ci_mnist_clients": 2}
SETTINGS = {"lr": 0.05, "batch-size": 32, "local-epochs": 1, "seed": 0}
MODELS = {"ci-mnist": {"model": "cnn"}, "acs": {"model": "mlp", "hidden": [32]}}


def build(workload: str, data_root: Path, work: Path, max_train: int, max_test: int, mnist_clients: int = 10) -> Path:
    """The workload's federated dataset, written under ``work`` (``mnist_clients``: CI-MNIST's clients)."""
    from fedfair.partitioners.builder import BuildSpec, build_dataset
    from fedfair.partitioners.builtins import ci_mnist_spec

    root = work / workload
    if workload == "ci-mnist":
        spec = replace(ci_mnist_spec(0, "size", data_root=str(data_root), clients=mnist_clients), max_train=max_train,
                       max_test=max_test)
    else:
        states = data_root / "feda4fair" / "cross_silo_attribute_final"
        spec = BuildSpec(source="csv-dir", source_options={"path": str(states)},
                         label="PINCP", sensitive=["SEX", "RAC1P"], splits=(0.3, 0.0, 0.7), max_train=max_train,
                         max_test=max_test, seed=0)
    build_dataset(spec, root)
    return root


def write_standin_data(data_root: Path, images: int = 200) -> Path:
    """Offline stand-ins for ``--data-root``'s files (what --smoke builds from: ../shared/data is not on CI
    machines): ``mnist/mnist_5k.csv.gz`` in its layout (784 pixel columns 0-255, then the label) from
    scikit-learn's bundled 8 x 8 digits, each pixel a 3 x 3 block, padded to 28 x 28 (``images``: 20 per parity
    and CI-MNIST client at least); FeDa4Fair's attribute-silo release from the synthetic-acs generator. Returns
    ``data_root``."""
    import pandas as pd
    from sklearn.datasets import load_digits

    from bench_overhead import write_standin_release

    digits = load_digits()  # 1,797 images
    pixels = np.kron(digits.images[:images], np.ones((3, 3)))  # 24 x 24
    pixels = np.pad(pixels, ((0, 0), (2, 2), (2, 2))) * (255 / 16)
    table = np.column_stack([pixels.reshape(len(pixels), -1).round(), digits.target[:images]]).astype(np.int64)
    (data_root / "mnist").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(table).to_csv(data_root / "mnist" / "mnist_5k.csv.gz", header=False, index=False)
    write_standin_release(data_root / "feda4fair")
    return data_root


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def loop_rounds(root: Path, spec: dict[str, Any], device: str, rounds: int) -> dict[str, Any]:
    """The ClientApp's work for ``rounds`` FedAvg rounds in this process, timed per round."""
    import torch
    from flwr.app import ArrayRecord

    from fedfair.data import load_client, read_manifest
    from fedfair.models import build_model
    from fedfair.training import TrainConfig, evaluate, train_local

    torch.set_num_threads(1)  # as a ClientApp
    clients = [load_client(root, name) for name in read_manifest(str(root)).client_names]
    first = clients[0]

    def model(seed: int | None = None) -> torch.nn.Module:
        return build_model(spec, first.n_features, seed=seed, num_classes=first.num_classes,
                           input_shape=first.input_shape)

    sent = ArrayRecord(model(seed=SETTINGS["seed"]).state_dict())
    config = TrainConfig(lr=SETTINGS["lr"], epochs=SETTINGS["local-epochs"], batch_size=SETTINGS["batch-size"])
    times, accuracy = [], float("nan")
    for server_round in range(1, rounds + 1):
        _sync(device)
        started = time.perf_counter()
        replies, sizes = [], []
        for k, client in enumerate(clients):
            if len(client.train) == 0:
                continue
            local = model()
            local.load_state_dict(sent.to_torch_state_dict())
            local = local.to(device)
            train_local(local, client.train, config, seed=SETTINGS["seed"] * 1_000_003 + server_round * 10_007 + k)
            replies.append(ArrayRecord(local.state_dict()))
            sizes.append(len(client.train))
        weights = np.asarray(sizes, dtype=np.float64) / sum(sizes)
        averaged = {key: sum(w * r[key].numpy() for w, r in zip(weights, replies)) for key in replies[0]}
        global_model = model()
        global_model.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32))
                                      for k, v in averaged.items()})
        sent = ArrayRecord(global_model.state_dict())
        global_model = global_model.to(device)
        scores = [evaluate(global_model, c.test, c.sensitive_values) for c in clients if len(c.test)]
        accuracy = float(np.mean([s.accuracy for s in scores]))
        _sync(device)
        times.append(time.perf_counter() - started)
    return {"s_per_round": float(np.mean(times[1:] or times)), "first_round_s": times[0], "round_s": times,
            "mean_client_accuracy": accuracy}


def app_rounds(root: Path, spec: dict[str, Any], device: str, rounds: int, work: Path) -> dict[str, Any]:
    """``fedfair run`` (FedAvg, Flower's simulation) with ``device``: seconds between the recorded rounds."""
    from fedfair import results
    from fedfair.api import run_configs

    stamps: list[float] = []
    original = results.RunRecorder.record_round

    def record_round(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = original(self, *args, **kwargs)
        stamps.append(time.perf_counter())
        return out

    results.RunRecorder.record_round = record_round
    started = time.perf_counter()
    try:
        run = {"strategy": "fedavg", "dataset": str(root), "rounds": rounds, "model": spec["model"],
               "lr": SETTINGS["lr"], "batch-size": SETTINGS["batch-size"], "local-epochs": SETTINGS["local-epochs"],
               "seed": SETTINGS["seed"], "device": device, "ci-resamples": 0,
               "out-dir": str(work / f"app-{root.name}-{device}")}  # one per workload: a run refuses a complete one
        if "hidden" in spec:
            run["hidden"] = ",".join(str(h) for h in spec["hidden"])
        summary = run_configs([run], echo=False, keep_going=False)[0]
    finally:
        results.RunRecorder.record_round = original
    gaps = np.diff(stamps) if len(stamps) > 1 else np.array([time.perf_counter() - started])
    accuracy = summary.get("mean", {}).get("accuracy")
    return {"s_per_round": float(np.mean(gaps)), "wall_s": time.perf_counter() - started,
            "recorded_rounds": len(stamps), "mean_client_accuracy": None if accuracy is None else float(accuracy)}


def machine() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cuda_available": cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None}


def render_markdown(result: dict[str, Any]) -> str:
    """The machine line and the table of gpu_results.json's contents."""
    info = result["machine"]
    gpu = info["gpu"] or "not measured (no CUDA device)"
    lines = [f"machine: {info['processor']}, {info['cpu_count']} cores, torch {info['torch']}; GPU: {gpu}",
             "| workload | measure | cpu s/round | cuda s/round | speed-up |", "|---|---|---|---|---|"]
    for workload, entry in result["workloads"].items():
        for mode in (m for m in ("loop", "app") if m in entry):
            row = entry[mode]
            cuda = f"{row['cuda']['s_per_round']:.3f}" if "cuda" in row else "n/a"
            speedup = f"{row['speedup']:.2f}x" if "speedup" in row else "n/a"
            lines.append(f"| {workload} | {mode} | {row['cpu']['s_per_round']:.3f} | {cuda} | {speedup} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="FedAvg rounds per measure (the first is not timed)")
    parser.add_argument("--max-train", type=int, default=500, help="training rows per client at most")
    parser.add_argument("--max-test", type=int, default=1000, help="test rows per client at most")
    parser.add_argument("--workloads", default="ci-mnist,acs", help="comma-separated: ci-mnist, acs")
    parser.add_argument("--ci-mnist-clients", type=int, default=10, help="CI-MNIST's clients")
    parser.add_argument("--mode", choices=("loop", "app", "both"), default="both")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a seconds-long check of the whole pipeline on the CPU only: both workloads and "
                             "measures, 2 rounds, 16 training / 16 test rows per client, 2 CI-MNIST clients, from "
                             "stand-ins of --data-root's MNIST and ACS files written into DIR (--data-root and --out "
                             "are ignored); gpu_results.json and bench_gpu.md go in DIR")
    args = parser.parse_args(argv)
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
        args.out = str(args.smoke / OUT.name)
    os.environ.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")

    info = machine()
    # smoke mode runs on the CPU wherever it runs (CI machines have no GPU): the JSON's devices say so
    devices = ["cpu"] + (["cuda"] if info["cuda_available"] and not args.smoke else [])
    if not info["cuda_available"]:
        why = "a CPU-only torch build" if info["torch_cuda"] is None else "no GPU visible"
        print(f"no CUDA device found (torch {info['torch']}, {why}): measuring the CPU side only; no GPU figures")
    modes = ("loop", "app") if args.mode == "both" else (args.mode,)
    result: dict[str, Any] = {"machine": info, "rounds": args.rounds, "max_train": args.max_train,
                              "max_test": args.max_test, "settings": SETTINGS, "devices": devices, "workloads": {}}
    if not info["cuda_available"]:
        result["note"] = "no CUDA device on the machine that ran this: GPU side not measured"
    elif args.smoke:
        result["note"] = "smoke mode: the CPU side only, although a CUDA device was there"
    with tempfile.TemporaryDirectory(dir=args.smoke) as tmp:  # the data and runs (in DIR when smoke)
        work = Path(tmp)
        data_root = write_standin_data(work / "standin") if args.smoke else Path(args.data_root)
        for workload in [w.strip() for w in args.workloads.split(",") if w.strip()]:
            root = build(workload, data_root, work, args.max_train, args.max_test, args.ci_mnist_clients)
            from fedfair.data import read_manifest

            clients = read_manifest(str(root)).clients
            entry: dict[str, Any] = {"model": MODELS[workload], "clients": len(clients),
                                     "train_rows": sum(c.n_train or 0 for c in clients),
                                     "test_rows": sum(c.n_test or 0 for c in clients)}
            for mode in modes:
                for device in devices:
                    measure = (loop_rounds(root, MODELS[workload], device, args.rounds) if mode == "loop"
                               else app_rounds(root, MODELS[workload], device, args.rounds, work))
                    entry.setdefault(mode, {})[device] = measure
                    print(f"{workload} ({entry['clients']} clients), {mode}, {device}: "
                          f"{measure['s_per_round']:.3f} s/round", flush=True)
                if "cuda" in entry[mode]:
                    entry[mode]["speedup"] = entry[mode]["cpu"]["s_per_round"] / entry[mode]["cuda"]["s_per_round"]
            result["workloads"][workload] = entry
    if args.smoke:
        result["smoke"] = True

    Path(args.out).write_text(json.dumps(result, indent=1, default=float) + "\n")
    markdown = render_markdown(json.loads(Path(args.out).read_text()))  # from the JSON as written
    print()
    print(markdown, end="")
    if args.smoke:
        (args.smoke / f"{Path(__file__).stem}.md").write_text(markdown)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
