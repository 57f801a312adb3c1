"""Simulation engines (issue 31): seconds per round, whole-run wall and peak memory of one FedAvg setting on
Flower's Ray engine, fedfair's in-process engine (clients one after the other), the in-process engine with
batched clients, a plain PyTorch loop and a batched-matmul loop, all measured in one run.

    python benchmarks/bench_engines.py [--clients 50,200,1000,10000] [--models mlp,logreg]
        [--variants ray,inprocess,batched,plain,batchloop] [--rounds 5] [--silo] [--max-seconds 420]
    python benchmarks/bench_engines.py --smoke DIR   # seconds: the whole pipeline at 50 clients, every file in DIR

Setting (issue 31's table): FedAvg, MLP 32 (and logistic regression), lr 0.05, batch 64, one local epoch,
fraction-train 1 and fraction-evaluate 1 (every client trains and is evaluated every round), seed 0.

Data: synthetic-acs (offline ACSIncome-schema generator, SYNTHETIC) built as benchmarks/bench_scale.py does:
50 states each split IID into clients / 50 clients of about 200 rows (70 / 15 / 15 train / val / test);
with ``--silo`` also FeDa4Fair's 47-state attribute-silo release from ../shared/data (capped at 1,000
training and 2,000 test rows per state, as benchmarks/bench_overhead.py builds it). The datasets are built
once, before any timing, and kept in ``--data-cache`` (default: the temporary directory's
fedfair-bench-engines) for the next run: 10,000 clients take minutes to write.

Variants, each in its own child process whose process tree's memory is sampled every 0.2 s
(bench_scale's PeakMemory: the sum of PSS over the child and every process below it, e.g. Ray's):

- ``ray``: ``fedfair`` with engine=ray (Flower's simulation engine, one actor per core);
- ``inprocess``: engine=inprocess, batch-clients=false (the ClientApp called per client in this process);
- ``batched``: engine=inprocess, batch-clients=true (a round's clients trained as one computation);
- ``plain``: the reference loop below: the clients' arrays loaded once, per client a copy of the global model
  trained by SGD over shuffled mini-batches, FedAvg (weighted by training rows), then every client scored on
  its test split (loss, accuracy and per-group confusion counts): the work of a fedfair round;
- ``batchloop``: the same with the clients' parameters stacked (K, out, in) and trained with torch.baddbmm
  (clients padded to the longest, short batches masked), the evaluation one pass over every test row;
- ``messages``: no training: per round only the Flower Messages a round of the in-process engine cannot do
  without, one ``train`` message per client (one held global record shared by all, :func:`fedfair.records.held_record`,
  and a 12-entry config copied from the round's) and its reply (the client's weights held, a 3-entry metric record), built and read back. The
  floor of any engine that keeps the per-client Message contract (issue 31 part 1: the same ClientApp handlers);
  its s / round next to batchloop's says how close that contract can come to the batched-matmul loop.

The loops use fedfair's seeds (initial weights, every client's shuffles), so all five should report the same
final mean accuracy (the unweighted mean over clients, as summary.json's ``mean``) to float rounding.

Measured: s / round = the mean of the regular rounds (rounds 2 .. R-1: the first holds data loading and
start-up, the last fedfair's final evaluation), from the strategy's checkpoint after each round (fedfair) or
perf_counter (loops); the whole run = the child's wall time (interpreter start and imports included); peak
PSS (and RSS) in GB. A variant whose estimated whole run (from its previous size's per-client round cost)
exceeds ``--max-seconds`` is skipped at that size and above (``"skipped"`` in the JSON). Writes
benchmarks/engines_results.json (settings, torch version, the machine's load before and after, and the issue's
done-when checks at 1,000 clients) and prints the markdown that ``render_markdown`` makes of it.

``--smoke DIR`` checks the pipeline in seconds: the same children, measurement and report at 50 clients of
synthetic ACS, logistic regression, 3 rounds (round 2 is the one regular round), the batched, batchloop and
messages variants (ray is left out: Ray alone takes 20+ s to start, inprocess is tests/test_engines.py's;
``--variants`` may add them), no
``--max-seconds`` skipping; the dataset cache, run directories, DIR/engines_results.json (``"smoke": true``)
and DIR/bench_engines.md all go in DIR.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_scale import STATES, PeakMemory, round_end_times  # noqa: E402

OUT = REPO / "benchmarks" / "engines_results.json"
VARIANTS = ("ray", "inprocess", "batched", "plain", "batchloop", "messages")
ENGINE_PARAMS = {"ray": {"engine": "ray"}, "inprocess": {"engine": "inprocess", "batch-clients": False},
                 "batched": {"engine": "inprocess", "batch-clients": True}}
SETTING = {"strategy": "fedavg", "hidden": "32", "lr": 0.05, "batch-size": 64, "local-epochs": 1,
           "fraction-train": 1.0, "fraction-evaluate": 1.0, "seed": 0}
SILO_DATA = REPO.parent / "shared" / "data" / "feda4fair"
# --smoke's sizes (overridable by the options): the smallest size, the fast variants, the fewest rounds that
# leave a regular round (2 .. R-1)
SMOKE = {"clients": "50", "models": "logreg", "variants": "batched,batchloop,messages", "rounds": 3}


def spec(model: str) -> dict:
    return {"model": "mlp", "hidden": [int(SETTING["hidden"])]} if model == "mlp" else {"model": "logreg"}


def train_seed(server_round: int, partition_id: int) -> int:
    """fedfair's seed of a client's shuffles in a round (strategies/messaging.py train_seed)."""
    return (SETTING["seed"] * 1_000_003 + server_round * 10_007 + partition_id) % (2**31)


def regular(ends: list[float], started: float) -> dict:
    """Round times from the end time of every round: the mean of rounds 2 .. R-1, the first and the last."""
    times = np.diff([started, *ends])
    return {"round_seconds": float(times[1:-1].mean()), "round_seconds_max": float(times[1:-1].max()),
            "first_round_seconds": float(times[0]), "final_round_seconds": float(times[-1])}


# ----- the fedfair variants (in the child) --------------------------------------------------------------
def fedfair_run(variant: str, root: Path, model: str, rounds: int, out: Path) -> dict:
    from fedfair.api import run_configs

    ends = round_end_times()
    started = time.perf_counter()
    summary = run_configs([{**SETTING, **ENGINE_PARAMS[variant], "dataset": str(root), "rounds": rounds,
                            "model": model, "out-dir": str(out)}], echo=False, keep_going=False)[0]
    return {**regular(ends, started), "mean_accuracy": summary["mean"]["accuracy"],
            "evaluated_at_end": len(summary["clients"])}


# ----- the reference loops (in the child) ----------------------------------------------------------------
def load(root: Path) -> tuple[list, dict]:
    """Every client's train and test splits (numpy, read once) and the manifest's sensitive values."""
    from fedfair.data import read_manifest, read_split

    manifest = read_manifest(root)
    clients = [(read_split(manifest, entry, "train"), read_split(manifest, entry, "test"))
               for entry in manifest.clients]
    return clients, manifest.sensitive_values


def group_codes(column: np.ndarray, values: list) -> np.ndarray:
    """Index of each row's value in the attribute's declared values."""
    values = np.asarray(values)
    order = np.argsort(values)
    return order[np.searchsorted(values, column, sorter=order)]


def plain_loop(root: Path, model: str, rounds: int) -> dict:
    """Per client: a copy of the global model, SGD over its shuffled mini-batches; FedAvg; every client scored."""
    import copy

    import torch

    from fedfair.models import build_model

    torch.set_num_threads(1)
    started = time.perf_counter()
    clients, sensitive = load(root)
    data = [(torch.from_numpy(tr.x), torch.from_numpy(tr.y).float(), torch.from_numpy(te.x),
             torch.from_numpy(te.y).float(), te.y, {a: (group_codes(te.sensitive[a], v), len(v))
                                                    for a, v in sensitive.items()}) for tr, te in clients]
    sizes = np.array([len(tr) for tr, _ in clients], dtype=np.float64)
    net = build_model(spec(model), clients[0][0].x.shape[1], seed=SETTING["seed"])
    batch, lr = SETTING["batch-size"], SETTING["lr"]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ends, accuracy = [], []
    for server_round in range(1, rounds + 1):
        states = []
        for k, (x, y, *_) in enumerate(data):
            local = copy.deepcopy(net)
            optimizer = torch.optim.SGD(local.parameters(), lr=lr)
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(train_seed(server_round, k)))
            for idx in order.split(batch):
                loss = bce(local(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            states.append(local.state_dict())
        weights = sizes / sizes.sum()
        net.load_state_dict({key: sum(float(w) * s[key] for w, s in zip(weights, states)) for key in states[0]})
        accuracy = []
        with torch.no_grad():
            for _, _, x, y, labels, groups in data:
                logits = net(x)
                float(bce(logits, y))  # the loss each client reports
                pred = (logits > 0).numpy().astype(np.int64)
                accuracy.append(float((pred == labels).mean()))
                for codes, size in groups.values():  # (groups, true label, predicted) counts
                    np.bincount(codes * 4 + labels * 2 + pred, minlength=4 * size)
        ends.append(time.perf_counter())
    return {**regular(ends, started), "mean_accuracy": float(np.mean(accuracy)), "evaluated_at_end": len(data)}


def batch_loop(root: Path, model: str, rounds: int) -> dict:
    """The clients' copies stacked (K, out, in) and trained with baddbmm: client k's step-t batch is row t of
    its shuffle cut in batches, padded with -1 (masked) to the longest client; FedAvg; one evaluation pass."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    from fedfair.models import build_model

    torch.set_num_threads(1)
    started = time.perf_counter()
    clients, sensitive = load(root)
    k_clients, batch, lr = len(clients), SETTING["batch-size"], SETTING["lr"]
    sizes = torch.tensor([len(tr) for tr, _ in clients])
    x = pad_sequence([torch.from_numpy(tr.x) for tr, _ in clients], batch_first=True)  # (K, longest, d)
    y = pad_sequence([torch.from_numpy(tr.y).float() for tr, _ in clients], batch_first=True)
    steps = -(-int(sizes.max()) // batch)
    test_x = torch.from_numpy(np.concatenate([te.x for _, te in clients]))
    test_y = np.concatenate([te.y for _, te in clients])
    owner = np.repeat(np.arange(k_clients), [len(te) for _, te in clients])
    n_test = np.bincount(owner, minlength=k_clients)
    groups = {a: (group_codes(np.concatenate([te.sensitive[a] for _, te in clients]), v), len(v))
              for a, v in sensitive.items()}
    net = build_model(spec(model), x.shape[2], seed=SETTING["seed"])
    global_params = [p.detach().clone() for p in net.parameters()]  # (weight, bias) per Linear layer
    weights = (sizes / sizes.sum()).float()
    rows = torch.arange(k_clients)[:, None]

    def forward(params: list, h: torch.Tensor) -> torch.Tensor:
        for i in range(0, len(params), 2):
            h = torch.baddbmm(params[i + 1].unsqueeze(1), h, params[i].transpose(1, 2))
            h = torch.relu(h) if i + 2 < len(params) else h
        return h.squeeze(-1)

    ends, accuracy = [], np.zeros(0)
    for server_round in range(1, rounds + 1):
        params = [g.expand(k_clients, *g.shape).clone().requires_grad_() for g in global_params]
        order = torch.full((k_clients, steps * batch), -1)
        for k, n in enumerate(sizes.tolist()):
            order[k, :n] = torch.randperm(n, generator=torch.Generator().manual_seed(train_seed(server_round, k)))
        for index in order.view(k_clients, steps, batch).unbind(1):  # (K, batch) rows of one step
            mask = (index >= 0).float()
            index = index.clamp(min=0)
            losses = torch.nn.functional.binary_cross_entropy_with_logits(
                forward(params, x[rows, index]), y[rows, index], reduction="none")
            loss = ((losses * mask).sum(1) / mask.sum(1).clamp(min=1)).sum()
            with torch.no_grad():
                for p, g in zip(params, torch.autograd.grad(loss, params)):
                    p -= lr * g
        with torch.no_grad():
            global_params = [(weights.view(-1, *[1] * (p.dim() - 1)) * p).sum(0) for p in params]
            logits = forward([p.unsqueeze(0) for p in global_params], test_x.unsqueeze(0))[0]
            losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(test_y).float(),
                                                                          reduction="none").numpy()
        pred = (logits > 0).numpy().astype(np.int64)
        np.bincount(owner, weights=losses, minlength=k_clients) / n_test  # each client's loss
        accuracy = np.bincount(owner, weights=(pred == test_y), minlength=k_clients) / n_test
        for codes, size in groups.values():  # (client, group, true label, predicted) counts
            np.bincount(((owner * size + codes) * 2 + test_y) * 2 + pred, minlength=k_clients * size * 4)
        ends.append(time.perf_counter())
    return {**regular(ends, started), "mean_accuracy": float(accuracy.mean()), "evaluated_at_end": k_clients}


def message_floor(root: Path, model: str, rounds: int) -> dict:
    """Per round: every client's train message and its reply, built and read (no training, no scoring)."""
    import torch
    from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict
    from flwr.supercore.task_identity import TaskIdentity

    from fedfair.data import read_manifest, read_split
    from fedfair.models import build_model
    from fedfair.records import config_copy, held_record

    torch.set_num_threads(1)
    started = time.perf_counter()
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 1  # as the in-process engine sets
    manifest = read_manifest(root)
    k_clients = len(manifest.clients)
    n_features = read_split(manifest, manifest.clients[0], "train").x.shape[1]
    arrays = {k: v.numpy() for k, v in build_model(spec(model), n_features, seed=SETTING["seed"]).state_dict().items()}
    common = {"server-round": 1, "lr": SETTING["lr"], "local-epochs": 1, "batch-size": 64, "objectives": "sgd",
              "task": "", "dataset": str(root), "eval-split": "test", "straggle-seconds": 0.0, "fail": "",
              "seed": 0}
    ends = []
    for server_round in range(1, rounds + 1):
        shared = ConfigRecord({**common, "server-round": server_round})  # built once a round, copied per client
        model = held_record(arrays)  # one global record in every message, as FedAvg's start_arrays gives
        messages = [Message(RecordDict({"config": config_copy(shared, **{"train-seed": train_seed(server_round, k)}),
                                        "arrays": model}), dst_node_id=1000 + k, message_type="train")
                    for k in range(k_clients)]
        replies = [Message(RecordDict({"arrays": held_record(arrays), "metrics": MetricRecord(
            {"num-examples": 140, "loss": 0.5, "train-seconds": 0.01})}), reply_to=m) for m in messages]
        total = sum(r.content["metrics"]["num-examples"] for r in replies)
        assert total == 140 * k_clients and all("arrays" in r.content for r in replies)
        ends.append(time.perf_counter())
    return {**regular(ends, started), "messages_per_round": 2 * k_clients}


def child(job: dict) -> None:
    root, rounds = Path(job["root"]), int(job["rounds"])
    if job["variant"] in ENGINE_PARAMS:
        result = fedfair_run(job["variant"], root, job["model"], rounds, Path(job["out"]))
    else:
        loop = {"plain": plain_loop, "batchloop": batch_loop, "messages": message_floor}[job["variant"]]
        result = loop(root, job["model"], rounds)
    Path(job["result"]).write_text(json.dumps(result))


# ----- the parent ----------------------------------------------------------------------------------------
def dataset(name: str, cache: Path) -> Path | str:
    """The dataset directory (built once into ``cache``), or why it is not there."""
    from bench_overhead import build_capped
    from bench_scale import build

    root = cache / ("silo-capped" if name == "silo" else f"synthetic-acs-{name}")
    done = cache / f"{root.name}.done"
    if done.is_file():
        return root
    if name == "silo" and not (SILO_DATA / "cross_silo_attribute_final").is_dir():
        return f"no FeDa4Fair release at {SILO_DATA / 'cross_silo_attribute_final'}"
    started = time.perf_counter()
    print(f"building {root.name} in {cache} (once; not timed)", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    if name == "silo":
        build_capped(SILO_DATA, cache)
    else:
        build(int(name), cache)
    done.write_text(f"{time.perf_counter() - started:.1f} s\n")
    return root


def measure(job: dict, work: Path) -> dict:
    """One variant in a child process, its process tree's memory sampled; the child's wall time."""
    tag = f"{job['dataset']}-{job['model']}-{job['variant']}"
    job = {**job, "out": str(work / f"run-{tag}"), "result": str(work / f"result-{tag}.json")}
    log = work / f"log-{tag}.txt"
    started = time.perf_counter()
    with open(log, "w") as err:
        process = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(job)], stderr=err)
        with PeakMemory(process.pid) as memory:
            code = process.wait()
    wall = time.perf_counter() - started
    if code != 0:
        tail = log.read_text()[-4000:]
        print(f"{tag} failed (exit {code}):\n{tail}", flush=True)
        return {"error": f"exit {code}", "traceback": tail, "wall_seconds": wall}
    return {**json.loads(Path(job["result"]).read_text()), "wall_seconds": wall,
            "peak_pss_gb": memory.peak_pss / 1e9, "peak_rss_gb": memory.peak_rss / 1e9}


def estimate(previous: dict | None, clients: int, rounds: int) -> float | None:
    """Seconds a run of ``clients`` would take: the previous size's per-client round cost x clients x rounds
    (the first and the final round counted as regular ones) + its fixed part (start-up)."""
    if not previous or "round_seconds" not in previous:
        return None
    per_client = previous["round_seconds"] / previous["clients"]
    fixed = max(0.0, previous["wall_seconds"] - rounds * previous["round_seconds"])
    return per_client * clients * rounds + fixed


def fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    lines = ["| data | clients | model | variant | s / round | x batch loop | whole run s | peak PSS GB | "
             "final mean accuracy | note |", "|" + "---|" * 10]
    for r in rows:
        loop = next((o for o in rows if o["dataset"] == r["dataset"] and o["model"] == r["model"]
                     and o["variant"] == "batchloop" and "round_seconds" in o), None)
        ratio = r["round_seconds"] / loop["round_seconds"] if loop and "round_seconds" in r else None
        note = r.get("skipped") or r.get("error") or ""
        lines.append(f"| {r['data']} | {r['clients']} | {r['model']} | {r['variant']} | {fmt(r.get('round_seconds'))} "
                     f"| {fmt(ratio, 2)} | {fmt(r.get('wall_seconds'), 1)} | {fmt(r.get('peak_pss_gb'), 2)} | "
                     f"{fmt(r.get('mean_accuracy'), 4)} | {note} |")
    return "\n".join(lines)


def checks(rows: list[dict]) -> dict:
    """The issue's done-when at 1,000 clients (per model) and whether 10,000 clients ran."""
    out = {}
    for model in sorted({r["model"] for r in rows}):
        get = {r["variant"]: r for r in rows if r["model"] == model and r["dataset"] == "1000"}
        seconds = {v: r.get("round_seconds") for v, r in get.items()}
        batched, loop, ray = seconds.get("batched"), seconds.get("batchloop"), seconds.get("ray")
        floor = seconds.get("messages")
        out[model] = {
            "batched_over_batchloop_at_1000": batched / loop if batched and loop else None,
            # the per-client Messages alone, and the batch loop plus them: the best any engine that keeps the
            # per-client Message contract can do, over the batch loop
            "messages_over_batchloop_at_1000": floor / loop if floor and loop else None,
            "batchloop_plus_messages_over_batchloop_at_1000": (loop + floor) / loop if floor and loop else None,
            "ray_over_batched_at_1000": ray / batched if batched and ray else None,
            "batched_peak_pss_gb_at_1000": get.get("batched", {}).get("peak_pss_gb"),
            "variants_run_at_10000": sorted(r["variant"] for r in rows if r["model"] == model
                                            and r["dataset"] == "10000" and "round_seconds" in r),
        }
        c = out[model]
        c["within_1.5x_of_batchloop"] = None if c["batched_over_batchloop_at_1000"] is None \
            else c["batched_over_batchloop_at_1000"] <= 1.5
        c["at_least_10x_faster_than_ray"] = None if c["ray_over_batched_at_1000"] is None \
            else c["ray_over_batched_at_1000"] >= 10
        c["batched_under_0.8_gb"] = None if c["batched_peak_pss_gb_at_1000"] is None \
            else c["batched_peak_pss_gb_at_1000"] < 0.8
    return out


def accuracy_spread(rows: list[dict]) -> dict:
    """Per (data, model): the largest difference of final mean accuracy among the fedfair variants, and among all."""
    out = {}
    for key in sorted({(r["dataset"], r["model"]) for r in rows}):
        acc = {r["variant"]: r["mean_accuracy"] for r in rows if (r["dataset"], r["model"]) == key
               and "mean_accuracy" in r}
        engines = [a for v, a in acc.items() if v in ENGINE_PARAMS]
        out[f"{key[0]}/{key[1]}"] = {"fedfair_variants": max(engines) - min(engines) if engines else None,
                                     "all_variants": max(acc.values()) - min(acc.values()) if acc else None}
    return out


def render_markdown(result: dict) -> str:
    """The table and the notes printed after a run, from its JSON alone (``json.load`` of engines_results.json)."""
    machine = result["machine"]
    lines = [table(result["runs"]), "",
             f"- load average (1, 5, 15 min) before {tuple(round(v, 2) for v in machine['load_before'])}, after "
             f"{tuple(round(v, 2) for v in machine['load_after'])}; torch {machine['torch']}"]
    for key, spread in result["accuracy_spread"].items():
        lines.append(f"- final mean accuracy spread {key}: fedfair variants {fmt(spread['fedfair_variants'], 6)}, "
                     f"all {fmt(spread['all_variants'], 6)}")
    changed = result["code_changed_during_run"]
    if changed:
        lines.append(f"- note: these source files changed during the run: {', '.join(changed)}")
    lines.append(f"- checks: {json.dumps(result['checks'])}")
    return "\n".join(lines) + "\n"


def version(package: str) -> str | None:
    """The installed version (as ``package.__version__``), read without importing it: torch, flwr and ray take
    seconds to import in this process, which runs none of them."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(package)
    except PackageNotFoundError:
        return None


def code_state() -> dict[str, str]:
    """A digest of every fedfair / strategies source file: the engines' code may change while a long run runs
    (a shared working tree); the JSON names the files that did."""
    import hashlib

    files = sorted([*(REPO / "fedfair").rglob("*.py"), *(REPO / "strategies").rglob("*.py")])
    return {str(f.relative_to(REPO)): hashlib.sha1(f.read_bytes()).hexdigest()[:12] for f in files}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="50,200,1000,10000", help="comma-separated sizes (multiples of 50)")
    parser.add_argument("--models", default="mlp,logreg")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--silo", action="store_true", help="add FeDa4Fair's 47-state silo release (../shared/data)")
    parser.add_argument("--max-seconds", type=float, default=420.0,
                        help="skip a variant whose estimated whole run exceeds this (and at larger sizes)")
    parser.add_argument("--data-cache", default=str(Path(tempfile.gettempdir()) / "fedfair-bench-engines"),
                        help="where the datasets are built once and kept")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a seconds-long check of the whole pipeline: 50 clients, logreg, 3 rounds, the "
                             "batched, batchloop and messages variants (no ray: it takes 20+ s to start), no --max-seconds "
                             "skipping; the data cache, runs, engines_results.json and bench_engines.md go in DIR")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
        # every file in DIR: not the shared data cache of the real runs, not benchmarks/
        args.data_cache, args.out = str(args.smoke / "data-cache"), str(args.smoke / "engines_results.json")
        args.max_seconds = None  # a smoke run measures every variant it names
    from fedfair.simulation import set_offline_env

    set_offline_env()
    sizes = [int(c) for c in args.clients.split(",") if c]
    models = [m for m in args.models.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    if any(c % STATES or c <= 0 for c in sizes) or args.rounds < 3:
        parser.error(f"--clients must be positive multiples of {STATES} and --rounds at least 3")
    if set(models) - {"mlp", "logreg"} or set(variants) - set(VARIANTS):
        parser.error(f"--models: mlp, logreg; --variants: {', '.join(VARIANTS)}")
    datasets = [str(c) for c in sizes] + (["silo"] if args.silo else [])
    load_before, started, code_before = os.getloadavg(), time.perf_counter(), code_state()
    rows: list[dict] = []
    last: dict[tuple[str, str], dict] = {}  # (model, variant) -> its run at the previous size
    with tempfile.TemporaryDirectory(dir=args.smoke) as work:  # the runs' directories (in DIR when smoke)
        for name in datasets:
            root = dataset(name, Path(args.data_cache))
            if isinstance(root, str):
                print(f"skipping the silo release: {root}", flush=True)
                continue
            clients = len(json.loads((root / "manifest.json").read_text())["clients"])
            data = "silo (47 states)" if name == "silo" else "synthetic ACS"
            for model in models:
                for variant in variants:
                    row = {"dataset": name, "data": data, "clients": clients, "model": model, "variant": variant}
                    previous = last.get((model, variant))
                    guess = None if name == "silo" else estimate(previous, clients, args.rounds)
                    if previous and "skipped" in previous and name != "silo":
                        row["skipped"] = previous["skipped"]
                    elif guess is not None and args.max_seconds is not None and guess > args.max_seconds:
                        row["skipped"] = (f"estimated {guess:.0f} s > --max-seconds {args.max_seconds:.0f} "
                                          f"(from {previous['clients']} clients)")
                    else:
                        row.update(measure({"variant": variant, "model": model, "root": str(root),
                                            "rounds": args.rounds, "dataset": name}, Path(work)))
                        row["estimated_seconds"] = guess
                    if name != "silo":
                        last[(model, variant)] = row
                    rows.append(row)
                    print(f"{data} {clients:>5} clients, {model:>6}, {variant:>9}: " + (
                        f"skipped ({row['skipped']})" if "skipped" in row else f"error ({row['error']})"
                        if "error" in row else f"{row['round_seconds']:.3f} s / round, whole run "
                        f"{row['wall_seconds']:.1f} s, peak PSS {row['peak_pss_gb']:.2f} GB" + (
                            f", final mean accuracy {row['mean_accuracy']:.4f}" if "mean_accuracy" in row else "")),
                        flush=True)
    load_after, code_after = os.getloadavg(), code_state()
    changed = sorted(f for f in {*code_before, *code_after} if code_before.get(f) != code_after.get(f))
    result = {
        "setting": {**SETTING, "models": models, "rounds": args.rounds, "rows_per_client": 200, "states": STATES,
                    "splits": "70/15/15 train/val/test (synthetic ACS); silo: 1,000 train / 2,000 test rows per "
                              "state at most", "torch_threads_loops": 1, "max_seconds": args.max_seconds,
                    "round_seconds": "mean of rounds 2..R-1", "memory": "peak sum of PSS / RSS over the child "
                                                                        "process tree, sampled every 0.2 s"},
        "machine": {"cpus": os.cpu_count(), "torch": version("torch"), "flwr": version("flwr"),
                    "python": platform.python_version(), "load_before": list(load_before),
                    "load_after": list(load_after)},
        "total_seconds": time.perf_counter() - started, "code": code_before, "code_changed_during_run": changed,
        "runs": rows, "accuracy_spread": accuracy_spread(rows), "checks": checks(rows),
        **({"smoke": True} if args.smoke else {}),
    }
    if version("ray"):
        result["machine"]["ray"] = version("ray")
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    markdown = render_markdown(json.loads(Path(args.out).read_text()))  # from the JSON as written
    print()
    print(markdown)
    if args.smoke:
        (args.smoke / f"{Path(__file__).stem}.md").write_text(markdown)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
