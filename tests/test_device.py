"""The ``device`` run parameter and the clients' GPU resources, on a CPU-only machine.

CUDA is faked where a test needs a machine with (or without) GPUs (``torch.cuda.is_available`` /
``device_count`` monkeypatched); where tensors must follow the model's device the model is put on PyTorch's
``meta`` device (shapes and devices, no data), and the few code paths meta cannot run (numbers read back to
the host) are held to the rule by reading their source.
"""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

from fedfair import protocol as p
from fedfair.config import COMMON_PARAMS, ParamError, validate_params
from fedfair.data import Split
from fedfair.device import check_device, client_resources, resolve_device, simulation_resources
from fedfair.models import build_model
from fedfair.simulation import backend_config
from fedfair.training import SplitTensors, TrainConfig, epoch_order, model_device, proximal_term, train_local

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


# ----- the parameter and its checks --------------------------------------------------------------
def test_malformed_device_is_refused_with_the_accepted_values():
    for bad in ("gpu", "CUDA", "cuda:", "cuda:x", "cpu0", ""):
        with pytest.raises(ParamError) as err:
            validate_params({"device": bad}, COMMON_PARAMS)
        assert "auto, cpu, cuda or cuda:K" in one_line(err)
        with pytest.raises(ParamError) as err:
            check_device(bad)
        assert f"device={bad!r} is not a device: use auto, cpu, cuda or cuda:K" in one_line(err)
    params = validate_params({"device": "cuda:1", "client-num-cpus": 2, "client-num-gpus": 0.25}, COMMON_PARAMS)
    assert (params["device"], params["client-num-cpus"], params["client-num-gpus"]) == ("cuda:1", 2.0, 0.25)
    for key, value in (("client-num-cpus", 0), ("client-num-gpus", -0.5)):
        with pytest.raises(ParamError, match=f"parameter '{key}'"):
            validate_params({key: value}, COMMON_PARAMS)


def test_cuda_without_cuda_names_the_problem_and_the_fix(no_cuda):
    for value in ("cuda", "cuda:0"):
        with pytest.raises(ParamError) as err:
            check_device(value)
        text = one_line(err)
        assert f"device={value} but torch finds no CUDA device" in text
        assert "use device=auto or device=cpu" in text and "pip install torch --index-url" in text
    assert check_device("auto") == "auto" and check_device("cpu") == "cpu"
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="this node sees no CUDA device"):
        resolve_device("cuda")


def test_a_device_index_beyond_the_machines_gpus_is_refused(one_gpu):
    with pytest.raises(ParamError) as err:
        check_device("cuda:3")
    assert "device=cuda:3 but this machine has 1 CUDA device(s) (cuda:0 to cuda:0)" in one_line(err)
    assert check_device("cuda:0") == "cuda:0" and check_device("cuda") == "cuda"
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="Ray shows each client only its own GPU"):
        resolve_device("cuda:2")


def test_the_flower_app_config_lists_the_device_parameters():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    assert {k: config[k] for k in ("device", "client-num-cpus", "client-num-gpus")} == {
        "device": "auto", "client-num-cpus": 1.0, "client-num-gpus": 0.0}


# ----- Ray's client resources ------------------------------------------------------------------------
def test_backend_config_takes_the_clients_resources_fractional_gpus_kept():
    assert backend_config()["client_resources"] == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert backend_config(False, 2.0, 0.25)["client_resources"] == {"num_cpus": 2.0, "num_gpus": 0.25}


def test_client_resources_from_the_params_on_a_cpu_machine(no_cuda):
    assert client_resources({}) == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert client_resources({"device": "auto", "client-num-cpus": 2.0}) == {"num_cpus": 2.0, "num_gpus": 0.0}
    with pytest.raises(ParamError) as err:
        client_resources({"client-num-gpus": 0.5})
    assert "client-num-gpus=0.5 but torch finds no CUDA device" in one_line(err)
    assert "set client-num-gpus=0" in str(err.value)
    with pytest.raises(ParamError, match="reserves GPUs that device=cpu never uses"):
        client_resources({"device": "cpu", "client-num-gpus": 0.5})


def test_client_resources_on_a_gpu_machine(one_gpu, monkeypatch):
    # given: kept as is (fractional); default 0 with auto / cuda: the GPU shared by the clients running at once
    assert client_resources({"client-num-gpus": 0.25}, cores=16) == {"num_cpus": 1.0, "num_gpus": 0.25}
    assert client_resources({}, cores=16) == {"num_cpus": 1.0, "num_gpus": 0.0625}
    assert client_resources({"device": "cuda", "client-num-cpus": 4.0}, cores=16) == {"num_cpus": 4.0, "num_gpus": 0.25}
    assert client_resources({"client-num-cpus": 1.0}, cores=3)["num_gpus"] == 0.3333  # Ray's 0.0001 steps, rounded down
    assert client_resources({"client-num-cpus": 8.0}, cores=4)["num_gpus"] == 1.0
    assert client_resources({"device": "cpu"}, cores=16) == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert client_resources({"device": "cuda:0"}, cores=16) == {"num_cpus": 1.0, "num_gpus": 0.0}  # pinned, not shared
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ParamError, match="Ray shows each client only the GPU it assigns"):
        client_resources({"device": "cuda:1", "client-num-gpus": 0.5})
    monkeypatch.setenv("RAY_ADDRESS", "auto")  # a cluster's GPUs are not this machine's: taken as given
    assert client_resources({"device": "cuda", "client-num-gpus": 0.5}) == {"num_cpus": 1.0, "num_gpus": 0.5}


def test_the_runs_of_one_simulation_must_agree_on_resources(no_cuda):
    assert simulation_resources([{"rounds": 2}, {"device": "cpu"}]) == {"num_cpus": 1.0, "num_gpus": 0.0}
    with pytest.raises(ParamError) as err:
        simulation_resources([{"client-num-cpus": 1}, {"client-num-cpus": 2}])
    text = one_line(err)
    assert "client-num-cpus=1.0" in text and "client-num-cpus=2.0" in text and "give every run the same" in text


def test_a_bad_device_fails_before_ray_starts(no_cuda, monkeypatch):
    import flwr.simulation

    def never(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("Ray was started")

    monkeypatch.setattr(flwr.simulation, "run_simulation", never)
    from fedfair.simulation import simulate_many

    with pytest.raises(ParamError, match="device=cuda but torch finds no CUDA device"):
        simulate_many([{"strategy": "fedavg", "device": "cuda"}], num_supernodes=2, echo=False)
    with pytest.raises(ParamError, match="parameter 'device' = 'gpu' is out of range"):
        simulate_many([{"device": "gpu"}], num_supernodes=2, echo=False)


# ----- training on the device ---------------------------------------------------------------------
def _split(n: int = 96, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    group = rng.integers(0, 2, n)
    y = (x[:, 0] + 0.5 * group + rng.normal(scale=0.5, size=n) > 0).astype(np.int64)
    return Split(x=x, y=y, sensitive={"sex": group + 1})


def test_every_message_config_carries_the_runs_device():
    from types import SimpleNamespace

    from fedfair.strategies.messaging import MessagingMixin

    for params, expected in (({"device": "cuda:1"}, "cuda:1"), ({}, "auto")):
        strategy = SimpleNamespace(dataset_dir="d", run_tag="t", params=params, model_spec=lambda: {"model": "logreg"})
        record = MessagingMixin.message_config(strategy, 3)
        assert record[p.DEVICE] == expected and record[p.SERVER_ROUND] == 3


def test_a_train_on_device_cpu_equals_the_default(synthetic_dir):
    from flwr.supercore.task_identity import TaskIdentity

    from fedfair.client_app import app

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 7
    spec = {"model": "mlp", "hidden": [8]}
    start = ArrayRecord(build_model(spec, 1, seed=3).state_dict())
    replies = []
    for device in (None, "cpu", "auto"):
        config = {"dataset-dir": str(synthetic_dir), "model-spec": json.dumps(spec), "run-tag": "t", "server-round": 1,
                  "lr": 0.1, "local-epochs": 2, "batch-size": 16, "train-seed": 11, "objectives": "proximal",
                  "proximal-mu": 0.1}
        if device is not None:
            config[p.DEVICE] = device
        content = RecordDict({"config": ConfigRecord(config), "arrays": start})
        context = Context(run_id=1, node_id=7, node_config={"partition-id": 1}, state=RecordDict(), run_config={})
        replies.append(app(Message(content, dst_node_id=7, message_type="train"), context))
    default = replies[0].content
    for reply in replies[1:]:
        assert reply.content["metrics"]["train-loss"] == default["metrics"]["train-loss"]
        for key, array in default["arrays"].items():
            assert np.array_equal(reply.content["arrays"][key].numpy(), array.numpy())


def test_train_local_results_do_not_depend_on_an_explicit_cpu_move():
    data = _split()
    spec = {"model": "mlp", "hidden": [8]}
    first, second = build_model(spec, 4, seed=0), build_model(spec, 4, seed=0).to(resolve_device("cpu"))
    config = TrainConfig(lr=0.1, epochs=3, batch_size=16)
    losses = [train_local(m, data, config, seed=5, sample_weight=np.linspace(1, 2, 96)) for m in (first, second)]
    assert losses[0] == losses[1]
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_split_tensors_batches_and_group_codes_follow_the_model_device():
    data = _split()
    model = build_model({"model": "mlp", "hidden": [8]}, 4, seed=0).to("meta")
    assert model_device(model) == torch.device("meta")
    tensors = SplitTensors(data, np.ones(len(data)), device=model_device(model))
    order = epoch_order(len(data), 32, torch.Generator().manual_seed(0), tensors.device)
    assert all(chunk.device.type == "meta" for chunk in order)
    batch = tensors.batch(order[0])
    assert {t.device.type for t in (batch.x, batch.y, batch.weight, batch.index, batch.groups["sex"])} == {"meta"}
    # the same rows as on the CPU: the order is drawn on the CPU whatever the device
    cpu_order = epoch_order(len(data), 32, torch.Generator().manual_seed(0))
    assert [len(c) for c in cpu_order] == [len(c) for c in order]


def test_an_accelerators_copy_of_a_split_is_made_once_and_dropped_with_it(monkeypatch):
    import gc

    from fedfair import training

    data, other = _split(), _split(seed=1)
    resident = training.split_tensors(data, "meta")
    assert training.split_tensors(data, "meta") is resident  # once per (split, device)
    assert resident.codes("sex") is training.split_tensors(data, "meta").codes("sex")
    assert training.split_tensors(data, "cpu") is not training.split_tensors(data, "cpu")  # host views, per call
    key = (id(data), "meta")
    assert key in training._RESIDENT
    del data, resident
    gc.collect()
    assert key not in training._RESIDENT
    monkeypatch.setattr(training, "DEVICE_CACHE_BYTES", 1)  # least recently used dropped beyond the budget
    first = training.split_tensors(other, "meta")
    third = _split(seed=2)
    training.split_tensors(third, "meta")
    assert (id(other), "meta") not in training._RESIDENT and (id(third), "meta") in training._RESIDENT
    assert first.x.device.type == "meta"


def test_plugin_penalties_and_steps_run_on_the_model_device():
    from fedfair.local.per_fedavg import PerFedAvgStep
    from fedfair.training import batch_loss

    data = _split()
    model = build_model({"model": "mlp", "hidden": [8]}, 4, seed=0).to("meta")
    tensors = SplitTensors(data, device="meta")
    order = epoch_order(len(data), 32, torch.Generator().manual_seed(0), "meta")
    penalty = proximal_term(list(model.parameters()), 0.5)(model, tensors.batch(order[0]))
    assert penalty.device.type == "meta" and penalty.dim() == 0
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = PerFedAvgStep(0.01)(model, optimizer, [tensors.batch(order[0]), tensors.batch(order[1])],
                               lambda m, b: batch_loss(m, b) + proximal_term(list(m.parameters()), 0.1)(m, b),
                               TrainConfig())
    assert loss.device.type == "meta" and all(q.device.type == "meta" for q in model.parameters())


# the modules that create tensors for the training loop, the plug-ins and FairIF's maths
DEVICE_MODULES = ["fedfair/training.py", "fedfair/influence.py", *(f"fedfair/local/{m}.py" for m in (
    "proximal", "fairif", "puffle", "dp", "group_weights", "per_fedavg", "finetune"))]
FACTORIES = {"tensor", "zeros", "ones", "empty", "eye", "full", "arange", "rand", "randn", "from_numpy", "as_tensor"}


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def test_tensors_are_created_on_the_device_and_read_back_through_cpu():
    """Every torch factory call in these modules names a ``device=`` or is moved with ``.to(...)`` (possibly
    after an elementwise chain); every ``.numpy()`` of a tensor comes after ``.cpu()``. The listed exceptions
    stay on the host on purpose."""
    host_on_purpose = {
        ("fedfair/influence.py", "rate_gaps"),  # torch.rand with a CPU generator (same draws on every device), moved
    }
    problems = []
    for name in DEVICE_MODULES:
        tree = ast.parse((REPO / name).read_text())
        parents = _parents(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            func = node.func
            scopes = (a for a in _ancestors(node, parents) if isinstance(a, (ast.FunctionDef, ast.ClassDef)))
            owner = next((a.name for a in scopes), "")
            if isinstance(func.value, ast.Name) and func.value.id == "torch" and func.attr in FACTORIES:
                if any(k.arg == "device" for k in node.keywords) or _moved(node, parents):
                    continue
                if (name, owner) not in host_on_purpose:
                    problems.append(f"{name}:{node.lineno} torch.{func.attr} in {owner} without a device")
            if func.attr == "numpy" and not node.args:
                inner = func.value
                is_cpu = (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)
                          and inner.func.attr == "cpu")
                if not is_cpu:
                    problems.append(f"{name}:{node.lineno} .numpy() without .cpu() in {owner}")
    assert problems == []


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]):
    while node in parents:
        node = parents[node]
        yield node


def _moved(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """The tensor a call makes reaches ``.to(...)`` through attribute calls / arithmetic on it."""
    for parent in _ancestors(node, parents):
        if isinstance(parent, ast.Attribute) and parent.attr == "to":
            return True
        if not isinstance(parent, (ast.Attribute, ast.Call, ast.BinOp, ast.UnaryOp)):
            return False
    return False


def test_dp_noise_generator_follows_the_model_device():
    source = (REPO / "fedfair" / "training.py").read_text()
    assert "torch.Generator(device=model_device(model))" in source
