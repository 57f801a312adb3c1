"""The fedfair ClientApp: local training and evaluation on one client's data.

Handlers
- ``query.describe``: who am I (client name, partition id, sizes, features, default model).
- ``train``: train from the sent global model (or this node's personal model
  kept in ``context.state``) and reply with the new weights.
- ``train`` options: ``proximal-mu`` (FedProx), ``algorithm=per-fedavg`` with
  ``maml-alpha`` (MAML-FL), ``report-start`` (also score the start model on the
  train split: FairFed's local statistics), ``keep-personal`` / ``start-from``.
- ``evaluate``: score the sent model, or the personal one (``use=personal``;
  falls back to the sent model when the node has none yet), on the test split;
  ``finetune-steps`` > 0 first fine-tunes a copy on the train split (MAML-FL).
- ``query.evaluate_models``: score each of several sent models (``model-0``,
  ``model-1``, ...) on the client's own data, e.g. for IFCA's cluster choice;
  replies hard and soft (expected) group confusion counts.

Personal models live in ``context.state`` under a key that includes the run's
``run-tag``, so several runs in one simulation (``fedfair compare``) never share them.

Which client a node is: ``node_config["dataset-dir"]`` + ``node_config["client"]``
in a deployment (``flower-supernode --node-config``), else the ``dataset-dir``
sent by the server and the simulation's ``partition-id``. Replies carry
metrics and group confusion counts, never raw data.
"""

from __future__ import annotations

import json
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedfair.data import ClientData, load_client
from fedfair.models import build_model
from fedfair.training import EvalResult, TrainConfig, evaluate, finetune, proximal_term, train_local, train_per_fedavg

PERSONAL = "personal-model"
app = ClientApp()
torch.set_num_threads(1)


def client_data(context: Context, config: ConfigRecord | None) -> ClientData:
    """This node's data, from its node-config (deployment) or the server's config (simulation)."""
    node = context.node_config
    root = node.get("dataset-dir") or (config or {}).get("dataset-dir")
    if not root:
        raise ValueError("no dataset: start the SuperNode with --node-config \"dataset-dir='DIR' client='NAME'\"")
    client = node.get("client", node.get("partition-id"))
    if client is None:
        raise ValueError("no client: set node-config 'client' (a name or partition id from manifest.json)")
    return load_client(str(root), client if isinstance(client, int) else str(client))


def _model(config: ConfigRecord, data: ClientData) -> torch.nn.Module:
    return build_model(json.loads(str(config["model-spec"])), data.n_features)


def _metrics(result: EvalResult) -> MetricRecord:
    return MetricRecord({"num-examples": result.n, "loss": result.loss, "accuracy": result.accuracy})


def _personal_key(config: ConfigRecord) -> str:
    return f"{PERSONAL}/{config.get('run-tag', '')}"


def _info(data: ClientData) -> ConfigRecord:
    return ConfigRecord({"client": data.name, "partition-id": data.partition_id})


@app.query("describe")
def describe(msg: Message, context: Context) -> Message:
    """Report the client's identity and sizes so the server can plan the run."""
    data = client_data(context, msg.content.config_records.get("config"))
    info = _info(data)
    info["n-train"] = len(data.train)
    info["n-test"] = len(data.test)
    info["n-features"] = data.n_features
    info["default-model"] = json.dumps(data.default_model)
    info["sensitive"] = json.dumps(data.sensitive_values)
    return Message(RecordDict({"info": info}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local SGD from the global model, or from this node's personal model."""
    config = msg.content["config"]
    data = client_data(context, config)
    model = _model(config, data)
    personal = _personal_key(config)
    if config.get("start-from", "global") == "personal" and personal in context.state:
        model.load_state_dict(context.state[personal].to_torch_state_dict())
    elif "arrays" in msg.content:
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    else:
        raise ValueError(f"client {data.name!r}: no model sent and no personal model kept (node restarted?)")
    train_config = TrainConfig(
        lr=float(config["lr"]), epochs=int(config["local-epochs"]), batch_size=int(config["batch-size"])
    )
    info = _info(data)
    metrics = MetricRecord({"num-examples": len(data.train)})
    if bool(config.get("report-start", False)):
        # FairFed: statistics of the received global model on the local training data
        start = evaluate(model, data.train, data.sensitive_values)
        info["start-groups"] = json.dumps(start.groups_json())
        metrics["start-loss"], metrics["start-accuracy"] = start.loss, start.accuracy
    seed = int(config["train-seed"])
    if config.get("algorithm", "sgd") == "per-fedavg":
        loss = train_per_fedavg(model, data.train, train_config, alpha=float(config["maml-alpha"]), seed=seed)
    else:
        mu = float(config.get("proximal-mu", 0.0))
        # FedProx (Li et al., eq. 2): (mu / 2) ||w - w_start||^2 anchored at the model training starts from
        penalties = [proximal_term(list(model.parameters()), mu)] if mu > 0 else []
        loss = train_local(model, data.train, train_config, seed=seed, penalties=penalties)
    arrays = ArrayRecord(model.state_dict())
    if bool(config.get("keep-personal", False)):
        context.state[personal] = arrays
    metrics["train-loss"] = loss
    return Message(RecordDict({"arrays": arrays, "metrics": metrics, "info": info}), reply_to=msg)


@app.evaluate()
def evaluate_model(msg: Message, context: Context) -> Message:
    """Evaluate the model this client deploys: the sent one or its personal one."""
    config = msg.content["config"]
    data = client_data(context, config)
    model = _model(config, data)
    personal = _personal_key(config)
    if config.get("use", "global") == "personal" and (personal in context.state or "arrays" not in msg.content):
        if personal not in context.state:
            raise ValueError(f"client {data.name!r} has no personal model yet: train before evaluating")
        model.load_state_dict(context.state[personal].to_torch_state_dict())
    else:
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    steps = int(config.get("finetune-steps", 0))
    if steps > 0:  # MAML-FL: the client adapts the meta-model on its own training data before deploying it
        finetune(model, data.train, steps, float(config["finetune-lr"]), int(config["batch-size"]),
                 seed=int(config["finetune-seed"]))
    result = evaluate(model, data.test, data.sensitive_values)
    info = _info(data)
    info["groups"] = json.dumps(result.groups_json())
    return Message(RecordDict({"metrics": _metrics(result), "info": info}), reply_to=msg)


@app.query("evaluate_models")
def evaluate_models(msg: Message, context: Context) -> Message:
    """Score each sent model ``model-k`` on the split named by config ``split`` (default train)."""
    config = msg.content["config"]
    data = client_data(context, config)
    split = {"train": data.train, "test": data.test, "val": data.val}[str(config.get("split", "train"))]
    if split is None:
        raise ValueError(f"client {data.name!r} has no val split")
    content = RecordDict({"info": _info(data)})
    for key, arrays in msg.content.array_records.items():
        model = _model(config, data)
        model.load_state_dict(arrays.to_torch_state_dict())
        result = evaluate(model, split, data.sensitive_values, soft=True)
        content[f"metrics.{key}"] = _metrics(result)
        content["info"][f"groups.{key}"] = json.dumps(result.groups_json())
        content["info"][f"soft-groups.{key}"] = json.dumps(result.soft_groups_json())
    return Message(content, reply_to=msg)
