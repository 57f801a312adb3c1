"""What the ServerApp and the ClientApp say to each other: message types, record names, keys.

Both halves import every name from here, so a key is spelled once. The wire
format, by message type:

``query.describe``
    config: ``dataset-dir``. Reply ``info``: client, partition-id, n-train,
    n-val, n-test, n-features, num-classes, input-shape (JSON, null for tabular
    data), default-model (JSON), sensitive (JSON). On a task set (``tasks.json``)
    the reply holds client, partition-id (position in the task set's client
    list) and ``tasks``: JSON {task: those sizes} for the tasks it has data for;
    train / evaluate messages then name their ``task`` (an evaluate entry its
    own ``task`` and ``model-spec``).
``train``
    config: the common keys (dataset-dir, model-spec, run-tag, server-round, device),
    the loop settings (lr, local-epochs, batch-size, train-seed), optional fault
    injection (fail-rate, straggle-rate, straggle-seconds), ``objectives``
    (comma-separated names of the client-side plug-ins, :mod:`fedfair.local`)
    and their own parameters, ``start-from`` (``sent`` or ``personal``),
    ``split`` (the split a folded evaluation scores, default test),
    ``keep-personal``, ``reply-arrays`` (false: the reply carries no weights, e.g.
    Standalone's models never leave their node), ``score-start``, ``task``. Records: ``arrays`` (the
    start model; may be absent when the node starts from its personal model).
    ``shared``: JSON {key: statistics} the server summed over the clients'
    last ``plugin-share`` (e.g. PUFFLE's per-group prediction counts).
    The per-node facts of :data:`NODE_FACTS` a plug-in asks for (e.g.
    ``trained-before``: whether this client trained this task earlier in the run).
    Reply: ``arrays``, ``metrics`` (num-examples, train-loss, the plug-ins'
    numbers as ``local.<name>`` and, with score-start, start-loss /
    start-accuracy) and ``info`` (client, the plug-ins' ``plugin-notes``
    (JSON list of fallback reasons) and ``plugin-share`` (JSON {key:
    statistics}) and, with score-start, ``start-groups``).
``evaluate`` and ``query.evaluate_models``
    Records ``model-0``, ``model-1``, ... are the sent models. config
    ``models`` (JSON list of {"key", "use", "task"}) says which models to
    score and how each is obtained: ``use=sent`` the record ``key``,
    ``use=personal`` this node's personal model of ``task`` (the sent record
    when it has none yet). Without ``models`` every sent record is scored.
    ``split`` (default: test for evaluate, train for evaluate_models),
    ``soft`` (also expected group counts), ``adapt`` (a plug-in run on a copy
    of each model before scoring, e.g. fine-tuning) with ``adapt-seed``.
    Reply per scored model: ``metrics.<key>`` (num-examples, loss, accuracy)
    and in ``info``: ``groups.<key>`` (and ``soft-groups.<key>``).

Group tables travel as JSON ``{attribute: {"values": [...], "counts": [[tp, fp, tn, fn], ...]}}``:
statistics, never raw data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from fedfair.metrics import GroupCounts

# ----- message types -------------------------------------------------------------
DESCRIBE = "query.describe"
EVALUATE_MODELS = "query.evaluate_models"

# ----- record names ----------------------------------------------------------------
CONFIG = "config"
ARRAYS = "arrays"
METRICS = "metrics"
INFO = "info"

# ----- config keys --------------------------------------------------------------------
DATASET_DIR = "dataset-dir"  # also a node-config key of a deployed SuperNode
CLIENT = "client"  # node-config key of a deployed SuperNode; info key of every reply
MODEL_SPEC = "model-spec"
RUN_TAG = "run-tag"
SERVER_ROUND = "server-round"
# every train / evaluate / query config: the run's ``device`` (auto, cpu, cuda, cuda:K), resolved on the node
DEVICE = "device"
TASK = "task"
LR = "lr"
LOCAL_EPOCHS = "local-epochs"
BATCH_SIZE = "batch-size"
TRAIN_SEED = "train-seed"
OBJECTIVES = "objectives"
START_FROM = "start-from"
KEEP_PERSONAL = "keep-personal"
REPLY_ARRAYS = "reply-arrays"  # false: the trained weights stay on the node (no ``arrays`` in the reply)
SCORE_START = "score-start"
# group-reweighting strategies (FedFB, Fed-FairBatch, Fed-FairGrad): JSON {"attribute", "values", "multipliers":
# [[weight of a row with label 0 and each value], [label 1 ...]]}, the rows' loss weights at the federation's scale
GROUP_WEIGHTS = "group-weights"
# query.evaluate_models: also the row counts and summed losses per (label, value) cell of this attribute
CELL_LOSSES = "cell-losses"
MODELS = "models"
# a train message that also asks for the previous round's evaluation of the sent model (JSON entries as MODELS;
# an entry's "arrays" names the record holding the model, here the train message's own ARRAYS)
EVALUATE_FIRST = "evaluate-first"
SPLIT = "split"
SOFT = "soft"
ADAPT = "adapt"
ADAPT_SEED = "adapt-seed"
SHARED = "shared"
TRAINED_BEFORE = "trained-before"  # train config: whether this client trained (this task) earlier in the run
# per-node facts the server adds to a train message for the plug-ins that ask (LocalObjective.node_facts)
NODE_FACTS = (TRAINED_BEFORE,)
FAIL_RATE = "fail-rate"  # fault injection (train and query routines): seeded by train-seed
STRAGGLE_RATE = "straggle-rate"
STRAGGLE_SECONDS = "straggle-seconds"

# values of START_FROM and of a model's "use"
SENT, PERSONAL = "sent", "personal"

# ----- info and metrics keys -------------------------------------------------------
PARTITION_ID = "partition-id"
N_TRAIN, N_VAL, N_TEST = "n-train", "n-val", "n-test"
N_FEATURES = "n-features"
NUM_CLASSES = "num-classes"
TASKS = "tasks"  # describe on a task set: JSON {task: {the per-dataset keys above}} of the tasks the client holds
INPUT_SHAPE = "input-shape"
DEFAULT_MODEL = "default-model"
SENSITIVE = "sensitive"
START_GROUPS = "start-groups"
NUM_EXAMPLES = "num-examples"
LOSS, ACCURACY = "loss", "accuracy"
TRAIN_LOSS = "train-loss"
START_LOSS, START_ACCURACY = "start-loss", "start-accuracy"
PLUGIN_NOTES = "plugin-notes"
PLUGIN_SHARE = "plugin-share"
PLUGIN_REPORT = "local."  # prefix of the plug-ins' numbers in a train reply's metrics


def model_key(k: int) -> str:
    """Record name of the k-th model of an evaluate / evaluate_models message."""
    return f"model-{k}"


def metrics_key(key: str) -> str:
    """Reply record holding one scored model's loss and accuracy."""
    return f"{METRICS}.{key}"


def groups_key(key: str, soft: bool = False) -> str:
    """Info key of one scored model's (soft) group table."""
    return f"{'soft-groups' if soft else 'groups'}.{key}"


def cells_key(key: str) -> str:
    """Info key of one scored model's per-(label, value) cell statistics (JSON values / counts / loss sums)."""
    return f"cells.{key}"


def model_entries(entries: list[Mapping[str, Any]]) -> str:
    """The ``models`` config value."""
    return json.dumps([dict(e) for e in entries])


def encode_groups(tables: Mapping[str, GroupCounts], soft: bool = False) -> str:
    """JSON of group tables; hard counts as integers, soft (expected) counts as floats."""
    if soft:
        return json.dumps({a: {"values": list(t.values), "counts": t.counts.tolist()} for a, t in tables.items()})
    return json.dumps({a: t.to_json() for a, t in tables.items()})


def decode_groups(text: str | Mapping[str, Any]) -> dict[str, GroupCounts]:
    """{attribute: GroupCounts} from :func:`encode_groups` (integral counts come back as int64)."""
    data = json.loads(text) if isinstance(text, str) else text
    out = {}
    for attribute, table in data.items():
        counts = np.asarray(table["counts"], dtype=np.float64).reshape(-1, 4)
        if np.all(counts == np.round(counts)):  # hard counts stay integers (they can be merged with GroupCounts.__add__)
            counts = counts.astype(np.int64)
        out[attribute] = GroupCounts(list(table["values"]), counts, multiclass=bool(table.get("multiclass", False)))
    return out
