"""The fedfair ClientApp: load this client's data, run the routine the message names, reply.

Handlers (the wire format is in :mod:`fedfair.protocol`):

- ``query.describe``: who am I (client name, partition id, sizes, features, default model);
- ``train``: local training from the sent model (or this node's personal
  model) with the plug-ins the message names (:mod:`fedfair.local`); replies the
  new weights (and, when asked, the sent model's scores on the test split: the
  previous round's evaluation folded into this message);
- ``evaluate``: score the deployed models on the test split;
- ``query.evaluate_models``: score the sent models on a chosen split (default
  train), with expected (soft) group counts, e.g. for a cluster choice;
- ``query.<action>`` for every routine of :data:`fedfair.queries.QUERY_ROUTINES`
  (e.g. a synthetic dataset): the routine's arrays, numbers and notes.

Algorithms live in ``strategies/`` (server half) and :mod:`fedfair.local`
(client half); nothing here knows them. Personal models live in
``context.state``, keyed by the run's ``run-tag`` and the model's task, so
several runs in one simulation (``fedfair compare``) never share them.

Which client a node is: ``node_config["dataset-dir"]`` + ``node_config["client"]``
in a deployment (``flower-supernode --node-config``), else the ``dataset-dir``
sent by the server and the simulation's ``partition-id``. Replies carry
metrics and group confusion counts, never raw data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedfair import protocol as p
from fedfair.data import ClientData, Split, held_lookup, load_client
from fedfair.device import resolve_device
from fedfair.faults import inject_faults
from fedfair.local import LocalRun, make_plugins, parse_names, train_with
from fedfair.models import build_model
from fedfair.queries import QUERY_ROUTINES, query_routine
from fedfair.records import held_record
from fedfair.tasks import is_task_set, load_task_client, load_task_set
from fedfair.training import EvalResult, TrainConfig, cell_losses, evaluate

app = ClientApp()
torch.set_num_threads(1)


def _location(context: Context, config: ConfigRecord | None) -> tuple[str, str | int]:
    """(dataset or task-set directory, client name or partition id) of this node."""
    node = context.node_config
    root = node.get(p.DATASET_DIR) or (config or {}).get(p.DATASET_DIR)
    if not root:
        raise ValueError("no dataset: start the SuperNode with --node-config \"dataset-dir='DIR' client='NAME'\"")
    client = node.get(p.CLIENT, node.get(p.PARTITION_ID))
    if client is None:
        raise ValueError("no client: set node-config 'client' (a name or partition id from manifest.json)")
    return str(root), client if isinstance(client, int) else str(client)


def _is_task_set(root: str) -> bool:
    return held_lookup("task-set", root, lambda: is_task_set(root))


def client_data(context: Context, config: ConfigRecord | None, task: str | None = None) -> ClientData:
    """This node's data, from its node-config (deployment) or the server's config (simulation); in a task
    set, its data for ``task`` (default: the message's ``task``)."""
    root, client = _location(context, config)
    if not _is_task_set(root):
        return load_client(root, client)
    task = task or str((config or {}).get(p.TASK, ""))
    if not task:
        raise ValueError(f"{root} is a task set: the message must name a task")
    data = load_task_client(root, task, client)
    if data is None:
        raise ValueError(f"client {load_task_set(root).client_name(client)!r} has no data for task {task!r}")
    return data


class PersonalModels:
    """This node's personal models in ``context.state``: one per (run, task)."""

    PREFIX = "personal-model"

    def __init__(self, context: Context, config: ConfigRecord) -> None:
        self.state = context.state
        self.run_tag = str(config.get(p.RUN_TAG, ""))

    def _key(self, task: str) -> str:
        return f"{self.PREFIX}/{self.run_tag}" + (f"/{task}" if task else "")

    def get(self, task: str) -> ArrayRecord | None:
        key = self._key(task)
        return self.state[key] if key in self.state else None

    def put(self, task: str, arrays: ArrayRecord) -> None:
        self.state[self._key(task)] = arrays


class PersonalModel:
    """This node's personal model of one (run, task), as the plug-ins' ``update_personal`` hook sees it
    (:class:`fedfair.local.base.PersonalModel`): the sent start model, the kept one, keeping a new one."""

    def __init__(self, models: PersonalModels, task: str, msg: Message, config: ConfigRecord, data: ClientData) -> None:
        self.models, self.task, self.msg, self.config, self.data = models, task, msg, config, data

    def sent(self) -> torch.nn.Module:
        if p.ARRAYS not in self.msg.content:
            raise ValueError(f"client {self.data.name!r}: a plug-in needs the sent model, and the message has none")
        return _model(_spec(self.config), self.data, self.msg.content[p.ARRAYS], _device(self.config))

    def load(self) -> torch.nn.Module | None:
        kept = self.models.get(self.task)
        return None if kept is None else _model(_spec(self.config), self.data, kept, _device(self.config))

    def save(self, model: torch.nn.Module) -> None:
        self.models.put(self.task, held_record(model.state_dict()))


class PluginState(MutableMapping):
    """The plug-ins' numpy arrays kept on this node for one (run, task), in ``context.state``."""

    PREFIX = "plugin-state"

    def __init__(self, context: Context, config: ConfigRecord, task: str) -> None:
        self.state = context.state
        self.key = f"{self.PREFIX}/{config.get(p.RUN_TAG, '')}" + (f"/{task}" if task else "")

    def _record(self) -> ArrayRecord:
        if self.key not in self.state:
            self.state[self.key] = ArrayRecord()
        return self.state[self.key]

    def __getitem__(self, key: str) -> np.ndarray:
        if self.key not in self.state or key not in self.state[self.key]:
            raise KeyError(key)
        return self.state[self.key][key].numpy()

    def __setitem__(self, key: str, value: np.ndarray) -> None:
        self._record()[key] = Array(np.asarray(value))

    def __delitem__(self, key: str) -> None:
        del self._record()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.state[self.key].keys()) if self.key in self.state else [])

    def __len__(self) -> int:
        return len(list(iter(self)))


def _spec(config: ConfigRecord) -> dict[str, Any]:
    return json.loads(str(config[p.MODEL_SPEC]))


def _device(config: ConfigRecord | None) -> torch.device:
    """Where this node computes for a message: its ``device`` (auto: CUDA when this node has it, else the CPU;
    a message without the key, from an older server, counts as auto)."""
    return resolve_device(str((config or {}).get(p.DEVICE, "auto")))


def _model(spec: Mapping[str, Any], data: ClientData, arrays: ArrayRecord,
           device: torch.device | str = "cpu") -> torch.nn.Module:
    """The model ``spec`` with the weights ``arrays``, on ``device`` (its state dict goes back through
    :func:`fedfair.records.held_record`, which copies every tensor to host numpy)."""
    model = build_model(spec, data.n_features, num_classes=data.num_classes,
                        input_shape=data.input_shape)
    model.load_state_dict(arrays.to_torch_state_dict())
    return model.to(device)


def _info(data: ClientData) -> ConfigRecord:
    return ConfigRecord({p.CLIENT: data.name, p.PARTITION_ID: data.partition_id})


def _metrics(result: EvalResult) -> MetricRecord:
    return MetricRecord({p.NUM_EXAMPLES: result.n, p.LOSS: result.loss, p.ACCURACY: result.accuracy})


def _split(data: ClientData, name: str) -> Split:
    split = {"train": data.train, "test": data.test, "val": data.val}.get(name)
    if split is None:
        raise ValueError(f"client {data.name!r} has no {name} split")
    return split


def _sizes(data: ClientData) -> dict[str, Any]:
    return {p.N_TRAIN: len(data.train), p.N_TEST: len(data.test), p.N_VAL: 0 if data.val is None else len(data.val),
            p.N_FEATURES: data.n_features, p.NUM_CLASSES: data.num_classes,
            p.INPUT_SHAPE: None if data.input_shape is None else list(data.input_shape),
            p.DEFAULT_MODEL: data.default_model, p.SENSITIVE: data.sensitive_values}


@app.query("describe")
def describe(msg: Message, context: Context) -> Message:
    """Report the client's identity and sizes (per task in a task set) so the server can plan the run."""
    config = msg.content.config_records.get(p.CONFIG)
    root, client = _location(context, config)
    if is_task_set(root):
        tasks = load_task_set(root)
        name = tasks.client_name(client)
        info = ConfigRecord({p.CLIENT: name, p.PARTITION_ID: tasks.clients.index(name)})
        per_task = [(t, load_task_client(root, t.name, client)) for t in tasks.tasks]
        # each task's model spec is the task set's (tasks.json "model"), so a server without the files knows it
        info[p.TASKS] = json.dumps({t.name: {**_sizes(data), p.DEFAULT_MODEL: t.model}
                                    for t, data in per_task if data is not None})
        return Message(RecordDict({p.INFO: info}), reply_to=msg)
    data = client_data(context, config)
    info = _info(data)
    for key, value in _sizes(data).items():
        info[key] = value if isinstance(value, int) else json.dumps(value)
    return Message(RecordDict({p.INFO: info}), reply_to=msg)


@dataclass
class TrainJob:
    """One train message, prepared: this node's data, the start model, the reply's content so far (the folded
    evaluation, the start-model statistics), the loop and the plug-ins. :func:`run_train` trains it alone,
    :func:`train_jobs` trains several as one computation where :mod:`fedfair.batched` can."""

    msg: Message
    config: ConfigRecord
    data: ClientData
    task: str
    personal: PersonalModels
    content: RecordDict
    start: ArrayRecord
    info: ConfigRecord
    metrics: MetricRecord
    loop: TrainConfig
    names: list[str]
    state: PluginState
    personal_model: PersonalModel
    scores: ScoreJob | None = None  # the folded evaluation, scored before the training

    @functools.cached_property
    def model(self) -> torch.nn.Module:
        """The start model, built when first asked for (a batched job never builds it)."""
        return _model(_spec(self.config), self.data, self.start, _device(self.config))


def prepare_train(msg: Message, context: Context) -> TrainJob:
    """Everything of a train message before the local training (faults are injected here)."""
    config = msg.content[p.CONFIG]
    settings = dict(config.items())  # plain-dict lookups (a record's .get of an absent key raises inside)
    data = client_data(context, config)
    inject_faults(config, data.name)
    personal, task = PersonalModels(context, config), str(settings.get(p.TASK, ""))
    start = personal.get(task) if settings.get(p.START_FROM, p.SENT) == p.PERSONAL else None
    if start is None:
        if p.ARRAYS not in msg.content:
            raise ValueError(f"client {data.name!r}: no model sent and no personal model kept (node restarted?)")
        start = msg.content[p.ARRAYS]
    content = RecordDict({p.INFO: _info(data)})
    # the previous round's evaluation of the sent model, folded into this message (scored with the training)
    scores = (ScoreJob(msg, context, config, content, json.loads(str(config[p.EVALUATE_FIRST])),
                       str(settings.get(p.SPLIT, "test")), False) if p.EVALUATE_FIRST in settings else None)
    info, metrics = content[p.INFO], MetricRecord({p.NUM_EXAMPLES: len(data.train)})
    loop = TrainConfig(lr=float(settings[p.LR]), epochs=int(settings[p.LOCAL_EPOCHS]),
                       batch_size=int(settings[p.BATCH_SIZE]))
    job = TrainJob(msg, config, data, task, personal, content, start, info, metrics, loop,
                   parse_names(str(settings.get(p.OBJECTIVES, ""))), PluginState(context, config, task),
                   PersonalModel(personal, task, msg, config, data), scores)
    if bool(settings.get(p.SCORE_START, False)):  # statistics of the start model on the local training data
        scored = evaluate(job.model, data.train, data.sensitive_values)
        info[p.START_GROUPS] = p.encode_groups(scored.groups)
        metrics[p.START_LOSS], metrics[p.START_ACCURACY] = scored.loss, scored.accuracy
    return job


def _shared(config: ConfigRecord) -> dict[str, Any]:
    """The statistics the server shared with the message's plug-ins (e.g. PUFFLE's group rates)."""
    return json.loads(str(config.get(p.SHARED, "{}")))


def run_train(job: TrainJob) -> LocalRun:
    """The job's local training alone (``job.model`` is trained in place)."""
    return train_with(job.names, job.config, job.model, job.data, job.loop, seed=int(job.config[p.TRAIN_SEED]),
                      state=job.state, shared=_shared(job.config), personal=job.personal_model)


def finish_train(job: TrainJob, run: LocalRun, arrays: ArrayRecord | None = None) -> Message:
    """The reply to a trained job: the new weights (``arrays``, default the job's model), metrics and notes."""
    job.metrics[p.TRAIN_LOSS] = run.loss
    for key, value in run.report.items():
        job.metrics[p.PLUGIN_REPORT + key] = float(value)
    if job.task:
        job.info[p.TASK] = job.task
    if run.notes:
        job.info[p.PLUGIN_NOTES] = json.dumps(run.notes)
    if run.share:
        job.info[p.PLUGIN_SHARE] = json.dumps(run.share)
    arrays = arrays if arrays is not None else held_record(job.model.state_dict())
    if bool(job.config.get(p.KEEP_PERSONAL, False)):
        job.personal.put(job.task, arrays)
    if bool(job.config.get(p.REPLY_ARRAYS, True)):
        job.content[p.ARRAYS] = arrays
    job.content[p.METRICS] = job.metrics  # job.info is the content's INFO already
    return Message(job.content, reply_to=job.msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local training with the named plug-ins from the sent model or this node's personal one."""
    return train_jobs([prepare_train(msg, context)])[0]


def _batch_key(job: TrainJob) -> tuple | None:
    """Jobs with the same key train as one computation; None: this job trains alone."""
    from fedfair.batched import can_batch, client_ready

    spec = _spec(job.config)
    if can_batch(spec, job.names, job.config, job.loop) is not None:
        return None
    if client_ready(make_plugins(job.names, job.config, job.state, _shared(job.config)), job.data) is not None:
        return None
    return (json.dumps(spec, sort_keys=True), tuple(job.names), repr(job.loop), job.data.n_features,
            job.data.num_classes, str(_device(job.config)))


class _Decoded:
    """``ArrayRecord.to_torch_state_dict`` once per record object (several clients' messages may carry the same
    record in process); valid while the records are alive (one batched call)."""

    def __init__(self) -> None:
        self.done: dict[int, tuple[ArrayRecord, dict[str, torch.Tensor]]] = {}

    def __call__(self, record: ArrayRecord) -> dict[str, torch.Tensor]:
        if id(record) not in self.done:
            self.done[id(record)] = (record, record.to_torch_state_dict())
        return self.done[id(record)][1]


def train_jobs(jobs: Sequence[TrainJob]) -> list[Message]:
    """Train every job and reply: the jobs :func:`fedfair.batched.can_batch` accepts, grouped by model and
    plug-ins, as one batched computation per group (the same weights and loss as alone, to float rounding:
    tests/test_batched.py); the others alone. Used by the in-process engine for a round's train messages."""
    from fedfair.batched import train_batched

    score_jobs([job.scores for job in jobs if job.scores is not None])  # the sent models, before training
    replies: dict[int, Message] = {}
    groups: dict[tuple, list[int]] = {}
    for i, job in enumerate(jobs):
        key = _batch_key(job)
        if key is None or len(job.data.train) == 0:
            replies[i] = finish_train(job, run_train(job))
        else:
            groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) == 1:
            replies[members[0]] = finish_train(jobs[members[0]], run_train(jobs[members[0]]))
            continue
        batch = [jobs[i] for i in members]
        decoded = _Decoded()  # the server sends one global model to every client: decoded once, not per client
        starts = [j.model.state_dict() if "model" in j.__dict__ else decoded(j.start) for j in batch]
        results = train_batched(_spec(batch[0].config), starts, [j.data for j in batch],
                                batch[0].loop, [int(j.config[p.TRAIN_SEED]) for j in batch],
                                batch[0].names, [dict(j.config) for j in batch], device=_device(batch[0].config),
                                states=[j.state for j in batch], shared=[_shared(j.config) for j in batch])
        for i, job, result in zip(members, batch, results):
            run = LocalRun(result.loss, result.report, result.notes, result.share)
            replies[i] = finish_train(job, run, held_record(result.state_dict))
    return [replies[i] for i in range(len(jobs))]


def _entries(msg: Message, config: ConfigRecord) -> list[Mapping[str, Any]]:
    if p.MODELS in config:
        return json.loads(str(config[p.MODELS]))
    return [{"key": key, "use": p.SENT} for key in msg.content.array_records]


def _deployed(msg: Message, context: Context, config: ConfigRecord, data: ClientData,
              entry: Mapping[str, Any]) -> torch.nn.Module:
    """The model an entry names: the sent record, or the personal model of its task (the sent one until there
    is one); built from the entry's own model spec when it has one (tasks with different models)."""
    key, task = str(entry.get("arrays", entry["key"])), str(entry.get("task", ""))
    arrays = PersonalModels(context, config).get(task) if entry.get("use", p.SENT) == p.PERSONAL else None
    if arrays is None:
        if key not in msg.content.array_records:
            raise ValueError(f"client {data.name!r} has no personal model yet: train before evaluating")
        arrays = msg.content[key]
    model = _model(entry.get(p.MODEL_SPEC) or _spec(config), data, arrays, _device(config))
    adapt = str(config.get(p.ADAPT, ""))
    if adapt:  # e.g. fine-tuning on the client's training data before the model is used
        train_with([adapt], config, model, data, TrainConfig(batch_size=int(config[p.BATCH_SIZE])),
                   seed=int(config[p.ADAPT_SEED]))
    return model


def _score_into(content: RecordDict, msg: Message, context: Context, config: ConfigRecord,
                entries: list[Mapping[str, Any]], split_name: str, soft: bool) -> None:
    """Score every model ``entries`` name on one split into ``content``: one metrics record and group
    table(s) per model."""
    root, _ = _location(context, config)
    tasks = _is_task_set(root)
    for entry in entries:
        key = str(entry["key"])
        # in a task set each entry is scored on the client's data for its task
        data = client_data(context, config, task=str(entry.get("task", "")) if tasks else None)
        split = _split(data, split_name)
        if p.INFO not in content:
            content[p.INFO] = _info(data)
        model = _deployed(msg, context, config, data, entry)
        result = evaluate(model, split, data.sensitive_values, soft=soft)
        cells = None
        if p.CELL_LOSSES in config:  # statistics of the group-reweighting strategies (counts, never rows)
            attribute = str(config[p.CELL_LOSSES])
            values = data.sensitive_values[attribute]
            counts, losses, positive = cell_losses(model, split, attribute, values)
            cells = json.dumps({"values": values, "counts": counts.tolist(), "loss": losses.tolist(),
                                "loss_positive": positive.tolist()})
        _put_scores(content, key, result, soft, cells)


def _put_scores(content: RecordDict, key: str, result: EvalResult, soft: bool, cells: str | None = None) -> None:
    """One model's scores into a reply: its metrics record, its group table(s) (and cell losses) in INFO."""
    content[p.metrics_key(key)] = _metrics(result)
    if cells is not None:
        content[p.INFO][p.cells_key(key)] = cells
    content[p.INFO][p.groups_key(key)] = p.encode_groups(result.groups)
    if soft:
        content[p.INFO][p.groups_key(key, soft=True)] = p.encode_groups(result.soft_groups or {}, soft=True)


@dataclass
class ScoreJob:
    """Scores a message asks for (the models ``entries`` name, on one split), to put into ``content``."""

    msg: Message
    context: Context
    config: ConfigRecord
    content: RecordDict
    entries: list[Mapping[str, Any]]
    split: str
    soft: bool


def _batchable_scoring(job: ScoreJob) -> bool:
    """The plain case :func:`fedfair.batched.evaluate_batched` reproduces: sent logreg / MLP models, no
    adaptation, no cell losses, a single dataset (not a task set)."""
    from fedfair.batched import BATCHED_MODELS

    if str(job.config.get(p.ADAPT, "")) or p.CELL_LOSSES in job.config or _is_task_set(_location(job.context, job.config)[0]):
        return False
    return all(entry.get("use", p.SENT) != p.PERSONAL and str(entry.get("arrays", entry["key"])) in job.msg.content.array_records
               and str((entry.get(p.MODEL_SPEC) or _spec(job.config)).get("model", "logreg")) in BATCHED_MODELS
               for entry in job.entries)


def score_jobs(jobs: Sequence[ScoreJob]) -> None:
    """:func:`_score_into` for every job; the plain ones (:func:`_batchable_scoring`) as one batched forward pass
    per model spec and split (:func:`fedfair.batched.evaluate_batched`: the same scores to float rounding)."""
    from fedfair.batched import evaluate_batched

    groups: dict[tuple, list[tuple[ScoreJob, str, ClientData, ArrayRecord]]] = {}
    for job in jobs:
        if len(jobs) < 2 or not _batchable_scoring(job):
            _score_into(job.content, job.msg, job.context, job.config, job.entries, job.split, job.soft)
            continue
        data = client_data(job.context, job.config)
        if p.INFO not in job.content:
            job.content[p.INFO] = _info(data)
        for entry in job.entries:
            spec = entry.get(p.MODEL_SPEC) or _spec(job.config)
            key = (json.dumps(spec, sort_keys=True), job.split, job.soft, data.n_features, data.num_classes,
                   str(_device(job.config)))
            groups.setdefault(key, []).append((job, str(entry["key"]), data,
                                               job.msg.content[str(entry.get("arrays", entry["key"]))]))
    decoded = _Decoded()
    for (spec, split, soft, *_), items in groups.items():
        results = evaluate_batched(json.loads(spec), [decoded(arrays) for *_, arrays in items],
                                   [_split(data, split) for _, _, data, _ in items],
                                   [data.sensitive_values for _, _, data, _ in items], soft=soft,
                                   device=_device(items[0][0].config))
        for (job, key, _, _), result in zip(items, results):
            _put_scores(job.content, key, result, soft)


def prepare_score(msg: Message, context: Context, default_split: str, default_soft: bool) -> ScoreJob:
    config = msg.content[p.CONFIG]
    return ScoreJob(msg, context, config, RecordDict({}), _entries(msg, config),
                    str(config.get(p.SPLIT, default_split)), bool(config.get(p.SOFT, default_soft)))


def prepare_evaluate(msg: Message, context: Context) -> ScoreJob:
    """An ``evaluate`` message, prepared (see :func:`evaluate_deployed`)."""
    return prepare_score(msg, context, default_split="test", default_soft=False)


def prepare_evaluate_models(msg: Message, context: Context) -> ScoreJob:
    """A ``query.evaluate_models`` message, prepared (see :func:`evaluate_models`)."""
    return prepare_score(msg, context, default_split="train", default_soft=True)


def score_replies(jobs: Sequence[ScoreJob]) -> list[Message]:
    """Score the jobs (batched where plain) and reply to each message."""
    score_jobs(jobs)
    return [Message(job.content, reply_to=job.msg) for job in jobs]


def _score(msg: Message, context: Context, default_split: str, default_soft: bool) -> Message:
    """Reply with the scores of every model the message names on one split."""
    return score_replies([prepare_score(msg, context, default_split, default_soft)])[0]


@app.evaluate()
def evaluate_deployed(msg: Message, context: Context) -> Message:
    """Score the models this client deploys (sent or personal) on its test split."""
    return _score(msg, context, default_split="test", default_soft=False)


@app.query("evaluate_models")
def evaluate_models(msg: Message, context: Context) -> Message:
    """Score each sent model on the split named by config ``split`` (default train), with soft counts."""
    return _score(msg, context, default_split="train", default_soft=True)


def _routine_handler(action: str):
    """The ``query.<action>`` handler of one registered client routine."""

    def handler(msg: Message, context: Context) -> Message:
        config = msg.content.config_records.get(p.CONFIG) or ConfigRecord()
        data = client_data(context, config)
        inject_faults(config, data.name)
        answer = query_routine(action)(data, dict(config))
        info = _info(data)
        for key, value in answer.notes.items():
            info[key] = value
        content = RecordDict({p.METRICS: MetricRecord({k: float(v) for k, v in answer.metrics.items()}), p.INFO: info})
        if answer.arrays:
            content[p.ARRAYS] = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in answer.arrays.items()})
        return Message(content, reply_to=msg)

    handler.__name__ = f"query_{action}"
    return handler


for _action in QUERY_ROUTINES:
    app.query(_action)(_routine_handler(_action))
