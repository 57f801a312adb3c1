"""Batched local training: K clients' copies of one model trained as one computation (issue 31, part 2).

:func:`train_batched` gives each client what :func:`fedfair.local.train_with` gives it when the client trains
alone (its trained weights and its ``LocalRun.loss``), within float tolerance; :func:`can_batch` says when a
client's training cannot be batched, so the caller trains that client alone. No Flower types.

What is reproduced (:func:`fedfair.training.train_local` / ``_loop`` with :class:`fedfair.training.SGDStep`):

- each client's mini-batches are the chunks of :func:`fedfair.training.epoch_order`, drawn from its own
  ``torch.Generator`` seeded with its seed, epoch after epoch (or cycling to ``max_steps`` steps), its last
  short batch included;
- each step's loss is :func:`fedfair.training.batch_loss`: the mean over the batch's real rows of
  row weight x cross-entropy (:func:`fedfair.training.row_losses`: binary on one logit, softmax on C), the
  row weights those of the plug-ins (:meth:`LocalObjective.sample_weight`, multiplied, scaled to mean 1 over
  the split by :class:`fedfair.training.SplitTensors` unless a plug-in says not to), plus FedProx's
  (mu / 2) ||w - w^t||^2 (:func:`fedfair.training.proximal_term`, Li et al. 2020 eq. 2) anchored at the start;
- the update is plain SGD, w <- w - lr grad; the reported loss is the mean over the client's steps of the
  step losses (penalty included), 0 without a step.

How: the clients' parameters are stacked (K, out, in) and the forward pass is a chain of ``torch.baddbmm``;
one step gathers every client's batch rows into (K, B, d) (B = the largest batch; rows past a client's real
batch are masked out of the loss, which is divided by the client's real batch size) and takes the gradient of
the sum of the clients' losses (client k's parameters get exactly grad of its own loss). A client with fewer
steps than the longest (fewer rows, or fewer ``max_steps``) has its loss multiplied by 0 on the steps past its
own: its gradient is 0 and its weights stay bit for bit. Loops run over steps; per client only its plan is
made (its shuffles, drawn on the CPU as :func:`epoch_order` does, and its row weights), no loop over rows.
``device``: where the stacked weights, the clients' rows and the schedule live (default the CPU).

Why bmm and not ``torch.vmap(torch.func.grad(functional_call))``: on the CPU (torch 2.13, 2 threads), MLP 32,
batch 64, one step took 0.15 / 0.33 / 0.88 / 5.4 ms with bmm + autograd against 0.81 / 1.03 / 2.13 / 5.7 ms
with vmap for K = 5 / 50 / 200 / 1000 clients of 10 features (60 features: 0.19 / 0.48 / 1.6 / 10.3 ms
against 0.66 / 1.07 / 2.7 / 11.2 ms): vmap's per-call overhead dominates at small K and it never wins.

Batched (:data:`BATCHED_OBJECTIVES`): ``sgd``, ``proximal`` (``proximal-mu``), ``group-weights`` (its
multipliers m[y, a] are a per-row weight, used unscaled as the plug-in asks), ``finetune`` (plain SGD with
its own lr and ``max_steps``), ``fairif`` in the rounds it needs no model (its warm-up, and the rounds after
it computed its row weights: they are kept in the node state; the round that computes them trains alone:
:func:`client_ready`) and ``puffle`` (:class:`fedfair.local.puffle.PuffleStack`: every client's DPL, its
gradient and its lambda rule per step, vectorised over the clients; its start lambda and its shared statistics
from a model built per client, once before and once after the steps; noised PUFFLE comes with DP-SGD and
trains alone), in any combination; the plug-ins' numbers, notes and shared statistics are reported as
``train_with`` reports them. Models ``logreg`` and ``mlp`` (any hidden sizes), binary or multi-class; optimiser
``sgd``. Not batched (:func:`can_batch` names the reason): Per-FedAvg (its own step rule), Ditto (a personal
model), DP-SGD (per-row clipping and noise), other plug-ins, the CNN and plug-in models, Adam.

Tolerance: the shuffles and batch compositions are identical; the float32 sums run in another order than the
per-client ``addmm`` / ``mean``, so results agree to rounding. Observed (4 clients of 5-130 rows, batch 16,
3 and 10 epochs, logreg and MLP 32, sgd and proximal + group weights): weights within 2.4e-7 absolute and
2e-6 relative (weights of magnitude >= 1e-2), loss within 1e-7 relative. tests/test_batched.py asserts
rtol 1e-5 / atol 1e-6 on the weights (errors are <= 6 % of that) and rtol 1e-6 on the loss.

Memory: the step schedule is (steps, K, B) int32 row indices; a step holds (K, B, widest layer) activations.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from fedfair.data import ClientData, Split
from fedfair.local import finish_plugins, make_plugins
from fedfair.local.base import LocalObjective
from fedfair.local.puffle import PuffleStack
from fedfair.models import build_model
from fedfair.training import EvalResult, SplitTensors, TrainConfig, epoch_order, score_logits, split_tensors

# plug-ins whose contribution is a per-row weight, a proximal term, PUFFLE's penalty and / or loop settings
BATCHED_OBJECTIVES = ("sgd", "proximal", "group-weights", "finetune", "fairif", "puffle")
BATCHED_MODELS = ("logreg", "mlp")
# why the other builtin plug-ins train alone
NOT_BATCHED = {
    "per-fedavg": "per-fedavg: its own two-batch step",
    "ditto": "ditto: also trains a personal model",
    "dp": "dp: per-row clipping and noise (opacus)",
}


@dataclass
class BatchedResult:
    """One client's trained weights (CPU tensors, the model's state dict keys and shapes) and what
    ``train_with(...)`` reports: the loss, the plug-ins' numbers, notes and statistics to share."""

    state_dict: OrderedDict[str, torch.Tensor]
    loss: float
    report: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    share: dict[str, Any] = field(default_factory=dict)


def can_batch(spec: Mapping[str, Any], names: Sequence[str], config: Mapping[str, Any] | None = None,
              loop: TrainConfig | None = None) -> str | None:
    """None when :func:`train_batched` reproduces ``train_with(names, config, build_model(spec), ...)`` with
    ``loop``; else why not, one short phrase (the caller then trains the client alone)."""
    model = str(spec.get("model", "logreg"))
    if model not in BATCHED_MODELS:
        return f"model {model!r} not batched" if model == "cnn" else f"plug-in model {model!r}"
    for name in names:
        if name not in BATCHED_OBJECTIVES:
            return NOT_BATCHED.get(name, f"objective {name!r} not batched")
    if loop is not None:
        if loop.optimizer != "sgd":
            return f"optimizer {loop.optimizer!r}"
        if loop.dp_noise > 0:
            return "DP-SGD (dp_noise > 0)"
    return None


def client_ready(plugins: Sequence[LocalObjective], data: ClientData) -> str | None:
    """None when this client's plug-ins (:func:`fedfair.local.make_plugins`, with its node state) need no model
    before the training this round, so :func:`train_batched` reproduces it; else why it trains alone."""
    for plugin in plugins:
        if plugin.name == "fairif" and plugin.needs_model(data):
            return "fairif: computes its influence weights this round"
        if plugin.name == "puffle" and (float(plugin.values["puffle-lambda-noise"]) > 0
                                        or float(plugin.values["puffle-statistics-noise"]) > 0):
            return "puffle: noised statistics (DP-SGD)"
    return None


@dataclass
class ClientPlan:
    """One client's part of a batched run: its batches (steps, batch rows; -1 = no row), its row weights
    (float32, one per training row; None = uniform), its loop settings, FedProx's mu (0 = no proximal term),
    its plug-ins and PUFFLE's regulariser (None = no PUFFLE term)."""

    batches: torch.Tensor
    weight: torch.Tensor | None
    loop: TrainConfig
    mu: float
    plugins: list[LocalObjective] = field(default_factory=list)
    puffle: Any = None


def client_plan(plugins: Sequence[LocalObjective], data: ClientData, loop: TrainConfig, seed: int,
                start_model: Callable[[], nn.Module] | None = None) -> ClientPlan:
    """What ``train_with`` composes for one client (row weights, PUFFLE's penalty, loop settings, proximal mu:
    the plug-ins themselves compute them, in train_with's order) and the batches its ``_loop`` would draw.
    ``start_model()`` builds the client's start model for a plug-in that reads it (PUFFLE's start lambda)."""
    weights: np.ndarray | None = None
    for plugin in plugins:  # batched FairIF is in its warm-up or has its weights kept: no model read
        w = plugin.sample_weight(None, data)
        if w is not None:
            weights = w if weights is None else weights * w
    weight = None if weights is None else SplitTensors(data.train, weights, all(p.scale_weight for p in plugins)).weight
    puffle = None
    for plugin in plugins:
        if plugin.name == "puffle":
            if start_model is None:
                raise ValueError("train_batched: PUFFLE reads the start model; pass start_model")
            regularisers = plugin.penalties(start_model(), data)
            puffle = regularisers[0] if regularisers else None
    loop = functools.reduce(lambda settings, plugin: plugin.loop_config(settings), plugins, loop)
    mu = sum(float(p.values["proximal-mu"]) for p in plugins if p.name == "proximal")
    return ClientPlan(client_batches(len(data.train), loop, seed), weight, loop, mu, list(plugins), puffle)


def client_batches(n: int, loop: TrainConfig, seed: int) -> torch.Tensor:
    """(steps, batch size) row indices of every step ``_loop`` takes on n rows (-1 pads the short batches):
    :func:`epoch_order` per epoch from a generator seeded with ``seed``; ``loop.epochs`` epochs, or as many as
    ``loop.max_steps`` steps need, cut there."""
    size = loop.batch_size
    if n == 0 or loop.max_steps == 0:
        return torch.empty((0, size), dtype=torch.int32)
    per_epoch = -(-n // size)
    epochs = loop.epochs if loop.max_steps is None else -(-loop.max_steps // per_epoch)
    generator = torch.Generator().manual_seed(int(seed))
    steps = [nn.utils.rnn.pad_sequence(epoch_order(n, size, generator), batch_first=True, padding_value=-1)
             for _ in range(epochs)]
    batches = torch.cat(steps) if steps else torch.empty((0, size), dtype=torch.int64)
    if batches.shape[1] < size:  # fewer rows than one batch: pad to the batch size
        batches = nn.functional.pad(batches, (0, size - batches.shape[1]), value=-1)
    if loop.max_steps is not None:
        batches = batches[: loop.max_steps]
    return batches.to(torch.int32)


def step_schedule(plans: Sequence[ClientPlan], offsets: Sequence[int]) -> torch.Tensor:
    """(steps, K, B) row indices into the clients' concatenated rows (client k's rows start at offsets[k]),
    -1 where a client has no row: past its batch's real rows or past its last step."""
    steps = max((len(plan.batches) for plan in plans), default=0)
    width = max((plan.batches.shape[1] for plan in plans), default=0)
    schedule = torch.full((steps, len(plans), width), -1, dtype=torch.int32)
    for k, (plan, offset) in enumerate(zip(plans, offsets)):
        rows = plan.batches
        schedule[: len(rows), k, : rows.shape[1]] = torch.where(rows >= 0, rows + offset, rows)
    return schedule


def stacked_layers(starts: Sequence[Mapping[str, torch.Tensor]], keys: Sequence[str],
                   device: torch.device) -> list[torch.Tensor]:
    """Every parameter stacked over the clients: (K, *shape) float32 on ``device``, in state dict order."""
    return [torch.stack([torch.as_tensor(s[key]) for s in starts]).to(device=device, dtype=torch.float32)
            for key in keys]


def forward(params: Sequence[torch.Tensor], x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The K models' logits on their rows x (K, B, d): Linear layers (weight, bias pairs) with ReLU between
    (:class:`fedfair.models.LogisticRegression` is one, :class:`fedfair.models.MLP` several); (K, B) for a
    binary label, (K, B, C) for C classes."""
    h = x
    for i in range(0, len(params), 2):
        weight, bias = params[i], params[i + 1]
        h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        if i + 2 < len(params):
            h = torch.relu(h)
    return h.squeeze(-1) if num_classes == 2 else h


def stacked_row_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`fedfair.training.row_losses` of (K, B) logits / (K, B, C) logits against (K, B) labels."""
    if logits.dim() > 2:
        flat = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long(),
                                           reduction="none")
        return flat.reshape(y.shape)
    return nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")


def proximal_terms(params: Sequence[torch.Tensor], anchors: Sequence[torch.Tensor],
                   mu: torch.Tensor) -> torch.Tensor:
    """(mu_k / 2) ||w_k - w_k^t||^2 per client (:func:`fedfair.training.proximal_term`)."""
    squares = sum(((p - a) ** 2).flatten(1).sum(1) for p, a in zip(params, anchors))
    return 0.5 * mu * squares


def model_keys(spec: Mapping[str, Any], n_features: int, num_classes: int) -> OrderedDict[str, torch.Size]:
    """The state dict keys and shapes of ``build_model(spec)`` (built without touching torch's global RNG)."""
    with torch.random.fork_rng(devices=[]):
        template = build_model(spec, n_features, num_classes=num_classes)
    return OrderedDict((key, value.shape) for key, value in template.state_dict().items())


def train_batched(spec: Mapping[str, Any], starts: Sequence[Mapping[str, torch.Tensor]],
                  datas: Sequence[ClientData], loop: TrainConfig, seeds: Sequence[int], names: Sequence[str],
                  config: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                  device: torch.device | str = "cpu", states: Sequence[MutableMapping[str, Any]] | None = None,
                  shared: Sequence[Mapping[str, Any] | None] | None = None) -> list[BatchedResult]:
    """Train client k's copy of the model ``spec`` from ``starts[k]`` on ``datas[k].train`` as
    ``train_with(names, config, model, datas[k], loop, seeds[k], states[k], shared[k])`` would, all K clients
    in one computation on ``device``; ``config``: the message config, one for all or one per client;
    ``states``: each node's plug-in store (default: empty), ``shared``: the server's statistics each client
    got. Call :func:`can_batch` and :func:`client_ready` first: what they refuse raises ValueError here."""
    reason = can_batch(spec, names, config if isinstance(config, Mapping) else None, loop)
    if reason is not None:
        raise ValueError(f"train_batched: {reason}; train this client alone (train_with)")
    if not (len(starts) == len(datas) == len(seeds)):
        raise ValueError(f"train_batched: {len(starts)} start models, {len(datas)} clients, {len(seeds)} seeds")
    if not datas:
        return []
    shapes = {(d.n_features, d.num_classes) for d in datas}
    if len(shapes) > 1:
        raise ValueError(f"train_batched: the clients differ in (features, classes): {sorted(shapes)}")
    (n_features, num_classes), = shapes
    keys = model_keys(spec, n_features, num_classes)
    for start in starts:
        got = OrderedDict((key, tuple(torch.as_tensor(v).shape)) for key, v in start.items())
        if got != OrderedDict((key, tuple(shape)) for key, shape in keys.items()):
            raise ValueError(f"train_batched: a start model's keys / shapes {dict(got)} "
                             f"are not the spec's {dict(keys)}")
    configs = [config] * len(datas) if isinstance(config, Mapping) else list(config)
    states = list(states) if states is not None else [{} for _ in datas]
    shared = list(shared) if shared is not None else [None] * len(datas)
    plugins = [make_plugins(names, c, st, sh) for c, st, sh in zip(configs, states, shared)]
    for client_plugins, data in zip(plugins, datas):
        reason = client_ready(client_plugins, data)
        if reason is not None:
            raise ValueError(f"train_batched: {reason}; train this client alone (train_with)")

    def module(state: Mapping[str, torch.Tensor], data: ClientData) -> Callable[[], nn.Module]:
        def build() -> nn.Module:  # the client's model with ``state``, on ``device``, as train_with's would be
            model = build_model(spec, data.n_features, num_classes=data.num_classes, input_shape=data.input_shape)
            model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
            return model.to(device)
        return build

    device = torch.device(device)
    plans = [client_plan(ps, d, loop, s, module(start, d)) for ps, start, d, s in zip(plugins, starts, datas, seeds)]
    for plan in plans:
        reason = can_batch(spec, (), None, plan.loop)
        if reason is not None:
            raise ValueError(f"train_batched: {reason}; train this client alone (train_with)")
    params = stacked_layers(starts, list(keys), device)
    totals = run_steps(params, plans, datas, num_classes, device).sum(0).tolist()
    # each client's own tensors (not views of the stack: a pickled view would carry all K clients' weights)
    per_client = zip(*([t.clone() for t in p.detach().to("cpu").unbind(0)] for p in params))
    results = []
    for tensors, total, plan, data in zip(per_client, totals, plans, datas):
        state = OrderedDict(zip(keys, tensors))
        run = finish_plugins(plan.plugins, data, total / max(len(plan.batches), 1), build=module(state, data))
        results.append(BatchedResult(state, run.loss, run.report, run.notes, run.share))
    return results


def run_steps(params: list[torch.Tensor], plans: Sequence[ClientPlan], datas: Sequence[ClientData],
              num_classes: int, device: torch.device) -> torch.Tensor:
    """The SGD steps of every client on the stacked ``params`` (updated in place): (steps, K) float64 step
    losses (0 past a client's last step). :class:`fedfair.training.SGDStep` per client, batched."""
    sizes = [len(d.train) for d in datas]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
    schedule = step_schedule(plans, offsets).to(device)
    if schedule.numel() == 0:
        return torch.zeros((0, len(plans)), dtype=torch.float64)
    x = torch.from_numpy(np.concatenate([np.ascontiguousarray(d.train.x, dtype=np.float32) for d in datas]))
    y = torch.from_numpy(np.concatenate([d.train.y.astype(np.float32) for d in datas]))
    x, y = x.to(device), y.to(device)
    weighted = any(plan.weight is not None for plan in plans)
    weight = torch.cat([torch.ones(len(d.train)) if plan.weight is None else plan.weight
                        for plan, d in zip(plans, datas)]).to(device) if weighted else None
    lr = torch.tensor([plan.loop.lr for plan in plans], dtype=torch.float32, device=device)
    mu = torch.tensor([plan.mu for plan in plans], dtype=torch.float32, device=device)
    proximal = bool((mu > 0).any())
    anchors = [p.detach().clone() for p in params] if proximal else []
    puffle = PuffleStack([plan.puffle for plan in plans], offsets, len(y), num_classes) \
        if any(plan.puffle is not None for plan in plans) else None
    losses = torch.zeros((len(schedule), len(plans)), dtype=torch.float64, device=device)
    for t, rows in enumerate(schedule):
        real = rows >= 0
        index = torch.where(real, rows, 0).long()
        mask = real.to(torch.float32)
        count = mask.sum(1)
        active = (count > 0).to(torch.float32)
        for p in params:
            p.requires_grad_(True)
        logits = forward(params, x[index], num_classes)
        row_loss = stacked_row_losses(logits, y[index])
        loss = (row_loss * (mask if weight is None else weight[index] * mask)).sum(1) / count.clamp(min=1)
        penalised = puffle(logits, index, real, y[index]) if puffle is not None else None
        if penalised is not None:  # PUFFLE: (1 - lambda) CE + lambda DPL (fedfair.local.puffle)
            scale, penalty = penalised
            loss = loss * scale + penalty
        if proximal:
            loss = loss + proximal_terms(params, anchors, mu)
        loss = loss * active
        grads = torch.autograd.grad(loss.sum(), params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.requires_grad_(False)
                p.sub_(lr.view(-1, *([1] * (p.dim() - 1))) * g)
        losses[t] = loss.detach().double()
    if puffle is not None:
        puffle.write_back()
    return losses.cpu()


@torch.no_grad()
def evaluate_batched(spec: Mapping[str, Any], states: Sequence[Mapping[str, torch.Tensor]], splits: Sequence[Split],
                     sensitive_values: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]] | None]
                     | None = None, soft: bool = False, device: torch.device | str = "cpu") -> list[EvalResult]:
    """:func:`fedfair.training.evaluate` of the model ``spec`` with weights ``states[k]`` on ``splits[k]``, for
    every k, bit for bit: each client's logits are its own ``nn.functional.linear`` chain (what the model's
    forward computes), without building a module per client, and scored by
    :func:`fedfair.training.score_logits`. Not one stacked matmul: its padded shape would depend on which
    clients are scored together (a resumed run scores another set than the uninterrupted one), and so could
    its last bits; a forward pass is a few microseconds of a client's scoring. ``sensitive_values``: one
    mapping for all, or one per client."""
    model = str(spec.get("model", "logreg"))
    if model not in BATCHED_MODELS:
        raise ValueError(f"evaluate_batched: model {model!r} not batched; evaluate each client alone")
    if len(states) != len(splits):
        raise ValueError(f"evaluate_batched: {len(states)} models, {len(splits)} splits")
    values = (list(sensitive_values) if isinstance(sensitive_values, Sequence)
              else [sensitive_values] * len(splits))
    device = torch.device(device)
    results: list[EvalResult] = []
    with torch.no_grad():
        for state, split, value in zip(states, splits, values):
            params = [torch.as_tensor(v).to(device=device, dtype=torch.float32) for v in state.values()]
            tensors = split_tensors(split, device)
            h = tensors.x
            for i in range(0, len(params), 2):
                h = nn.functional.linear(h, params[i], params[i + 1])
                if i + 2 < len(params):
                    h = torch.relu(h)
            logits = h.squeeze(-1) if h.shape[-1] == 1 else h
            results.append(score_logits(logits, split, tensors.y, value, soft))
    return results
