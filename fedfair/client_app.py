"""The fedfair ClientApp: local training and evaluation on one client's data.

Handlers
- ``query.describe``: who am I (client name, partition id, sizes, features, default model).
- ``train``: train from the sent global model (or this node's personal model
  kept in ``context.state``) and reply with the new weights.
- ``evaluate``: score the sent model, or the personal one (``use=personal``;
  falls back to the sent model when the node has none yet), on the test split.
- ``query.evaluate_models``: score each of several sent models (``model-0``,
  ``model-1``, ...) on the client's own data, e.g. for IFCA's cluster choice.

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
from fedfair.training import EvalResult, TrainConfig, evaluate, proximal_term, train_local

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
    if config.get("start-from", "global") == "personal" and PERSONAL in context.state:
        model.load_state_dict(context.state[PERSONAL].to_torch_state_dict())
    elif "arrays" in msg.content:
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    else:
        raise ValueError(f"client {data.name!r}: no model sent and no personal model kept (node restarted?)")
    train_config = TrainConfig(
        lr=float(config["lr"]), epochs=int(config["local-epochs"]), batch_size=int(config["batch-size"])
    )
    mu = float(config.get("proximal-mu", 0.0))
    # FedProx (Li et al., eq. 2): (mu / 2) ||w - w_start||^2 anchored at the model training starts from
    penalties = [proximal_term(list(model.parameters()), mu)] if mu > 0 else []
    loss = train_local(model, data.train, train_config, seed=int(config["train-seed"]), penalties=penalties)
    arrays = ArrayRecord(model.state_dict())
    if bool(config.get("keep-personal", False)):
        context.state[PERSONAL] = arrays
    content = RecordDict(
        {
            "arrays": arrays,
            "metrics": MetricRecord({"num-examples": len(data.train), "train-loss": loss}),
            "info": _info(data),
        }
    )
    return Message(content, reply_to=msg)


@app.evaluate()
def evaluate_model(msg: Message, context: Context) -> Message:
    """Evaluate the model this client deploys: the sent one or its personal one."""
    config = msg.content["config"]
    data = client_data(context, config)
    model = _model(config, data)
    if config.get("use", "global") == "personal" and (PERSONAL in context.state or "arrays" not in msg.content):
        if PERSONAL not in context.state:
            raise ValueError(f"client {data.name!r} has no personal model yet: train before evaluating")
        model.load_state_dict(context.state[PERSONAL].to_torch_state_dict())
    else:
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
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
        result = evaluate(model, split, data.sensitive_values)
        content[f"metrics.{key}"] = _metrics(result)
        content["info"][f"groups.{key}"] = json.dumps(result.groups_json())
    return Message(content, reply_to=msg)
