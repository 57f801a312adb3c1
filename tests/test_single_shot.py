"""Single-shot fair FL (seed 001): the bilevel maths, the client routine, the strategy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flwr.app import ConfigRecord, Context, Message, RecordDict

from fedfair.config import ParamError
from fedfair.data import load_client
from fedfair.registry import run_params
from fedfair.singleshot import (OuterProblem, SynthesisConfig, fixed_columns, initial_synthetic, inner_hessian,
                                inner_objective, min_distance, parse_size, solve_inner, spd, synthesize,
                                train_server_model)


def _biased_rows(n=400, seed=0, d=3):
    """Rows with a built-in SP gap: group 1 has higher labels through x_0 and directly."""
    rng = np.random.default_rng(seed)
    s = (rng.random(n) < 0.4).astype(float)
    x = rng.normal(size=(n, d)) + 0.8 * s[:, None] * np.eye(d)[0]
    y = np.where(x[:, 0] + 1.2 * s + 0.5 * rng.normal(size=n) > 0.4, 1.0, -1.0)
    a = np.column_stack([x, s, np.ones(n)])  # s encoded as a feature, then the intercept
    return a, s, y


def _newton(a_hat, y_hat, lam, theta):
    """An independent inner solver for the finite-difference reference: Newton to machine precision."""
    for _ in range(60):
        _, grad = inner_objective(theta, a_hat, y_hat, lam)
        hessian, _ = inner_hessian(theta, a_hat, y_hat, lam)
        theta = theta - np.linalg.solve(hessian, grad)
    return theta


def test_implicit_gradient_equals_finite_differences_of_the_outer_objective():
    a, s, y = _biased_rows(60)
    config = SynthesisConfig(rho_o=10.0, rho_s=5.0, lambda_x=1.0, lambda_theta=0.1)
    a_hat, s_hat, y_hat, free = initial_synthetic(a, s, y, 12, np.random.default_rng(1))
    problem = OuterProblem(a, s, y, s_hat, y_hat, free, config)
    theta = _newton(a_hat, y_hat, config.lambda_theta, np.zeros(a.shape[1]))
    _, gradient = problem.value_and_gradient(a_hat, theta)
    h, reference = 1e-6, np.zeros_like(a_hat)
    for i, j in zip(*np.nonzero(np.broadcast_to(free, a_hat.shape))):
        step = np.zeros_like(a_hat)
        step[i, j] = h
        up, down = a_hat + step, a_hat - step
        reference[i, j] = (problem.value_and_gradient(up, _newton(up, y_hat, config.lambda_theta, theta))[0]
                           - problem.value_and_gradient(down, _newton(down, y_hat, config.lambda_theta, theta))[0]) / (2 * h)
    assert np.linalg.norm(gradient - reference) / np.linalg.norm(reference) < 1e-5
    assert not gradient[:, ~free].any()  # s's column and the intercept are not synthesised
    # the L-BFGS inner solve reaches the Newton solution
    lbfgs, norm = solve_inner(a_hat, y_hat, config.lambda_theta, np.zeros(a.shape[1]))
    np.testing.assert_allclose(lbfgs, theta, atol=1e-6)
    assert norm < 1e-6


def test_rho_zero_with_copied_rows_gives_the_plain_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    a, s, y = _biased_rows(600, seed=2)
    test_a, _, test_y = _biased_rows(600, seed=3)
    a_hat, s_hat, y_hat, free = initial_synthetic(a, s, y, "copy", np.random.default_rng(0))
    np.testing.assert_array_equal(a_hat, a)
    result = synthesize(a, s, y, a_hat, s_hat, y_hat, free, SynthesisConfig(rho_o=0.0, kmax=30))
    theta, _ = train_server_model(result.a_hat, result.y_hat, 1e-3)
    plain = LogisticRegression(C=1e6, max_iter=2000).fit(a[:, :-1], y)
    ours = np.mean(np.where(test_a @ theta > 0, 1.0, -1.0) == test_y)
    assert ours == pytest.approx(plain.score(test_a[:, :-1], test_y), abs=0.005)


def test_a_larger_rho_o_lowers_the_real_covariance_and_the_spd():
    a, s, y = _biased_rows(800, seed=4)
    runs = {}
    for rho in (0.0, 10.0, 100.0):
        a_hat, s_hat, y_hat, free = initial_synthetic(a, s, y, "copy", np.random.default_rng(0))
        runs[rho] = synthesize(a, s, y, a_hat, s_hat, y_hat, free, SynthesisConfig(rho_o=rho, kmax=200, lr=0.05))
    covariances = [abs(runs[r].covariance_real) for r in (0.0, 10.0, 100.0)]
    assert covariances[2] < covariances[1] < covariances[0]
    gaps = [spd(runs[r].theta, a, s) for r in (0.0, 100.0)]
    assert gaps[1] < gaps[0] - 0.1
    assert runs[100.0].history[-1] < runs[100.0].history[0]  # Adam lowers P


def test_balanced_synthetic_rows_fill_every_cell_and_keep_the_group_encoding():
    a, s, y = _biased_rows(400, seed=5)
    a_hat, s_hat, y_hat, free = initial_synthetic(a, s, y, 0.1, np.random.default_rng(0))
    assert len(a_hat) == 40
    cells = np.unique(s_hat * 2 + (y_hat > 0), return_counts=True)[1]
    assert cells.tolist() == [10, 10, 10, 10]
    assert free.tolist() == [True, True, True, False, False]
    np.testing.assert_array_equal(a_hat[:, 3], s_hat)  # s's feature column follows s_hat
    np.testing.assert_array_equal(a_hat[:, 4], 1.0)
    assert fixed_columns(a, s).tolist() == [False, False, False, True, True]
    with pytest.raises(ValueError, match="synthetic size 500 exceeds the client's 400 training rows"):
        initial_synthetic(a, s, y, 500, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rho_o = -1.0 is negative"):
        SynthesisConfig(rho_o=-1.0)
    assert parse_size("copy") == "copy" and parse_size("800") == 800 and parse_size("0.1") == 0.1
    with pytest.raises(ValueError, match="ss-size='many'"):
        parse_size("many")


def test_min_distance_in_blocks_equals_the_full_matrix():
    rng = np.random.default_rng(0)
    x, x_hat = rng.normal(size=(700, 4)), rng.normal(size=(90, 4))
    full = np.sqrt(((x[:, None, :] - x_hat[None, :, :]) ** 2).sum(axis=2)).min()
    assert min_distance(x, x_hat, block=64) == pytest.approx(full)


@pytest.fixture(autouse=False)
def _task_identity():
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 7


def test_the_synthesize_reply_carries_no_real_row(synthetic_dir, _task_identity):
    from fedfair.client_app import app

    config = {"dataset-dir": str(synthetic_dir), "model-spec": json.dumps({"model": "logreg"}), "sensitive": "group",
              "ss-rho-o": 10.0, "ss-rho-s": 0.0, "ss-lambda-x": 1e-4, "ss-lambda-theta": 1e-3, "ss-size": "100",
              "ss-kmax": 20, "ss-inner-iters": 100, "ss-lr": 0.01, "train-seed": 3}
    message = Message(RecordDict({"config": ConfigRecord(config)}), dst_node_id=7, message_type="query.synthesize")
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})
    reply = app(message, context)
    data = load_client(synthetic_dir, "1")
    arrays = reply.content["arrays"]
    assert sorted(arrays) == ["s", "x", "y"]
    x_hat = arrays["x"].numpy()
    assert x_hat.shape == (100, data.train.x.shape[1]) and len(arrays["y"].numpy()) == 100
    # no synthetic row equals a real training or test row
    real = {row.tobytes() for row in np.concatenate([data.train.x, data.test.x]).astype(np.float32)}
    assert not any(row.tobytes() in real for row in x_hat.astype(np.float32))
    numbers = dict(reply.content["metrics"])
    assert {"objective", "covariance-real", "covariance-synthetic", "min-distance", "seconds", "n-synthetic"} <= set(numbers)
    assert numbers["n-synthetic"] == 100
    assert set(reply.content.array_records) == {"arrays"}


def test_single_shot_checks_its_inputs_before_any_work():
    with pytest.raises(ParamError, match="parameter 'ss-rho-o' = -1.0 is out of range"):
        run_params({"strategy": "single-shot", "ss-rho-o": -1.0})
    with pytest.raises(ParamError, match="parameter 'ss-size' = 'lots' is out of range"):
        run_params({"strategy": "single-shot", "ss-size": "lots"})
    with pytest.raises(ParamError, match="single-shot has no local training rounds: mitigation and dp-noise-multiplier"):
        run_params({"strategy": "single-shot", "mitigation": "puffle"})
    assert run_params({"strategy": "single-shot"})[0]["ss-kmax"] == 1000


def test_single_shot_runs_one_exchange_and_records_every_client(synthetic_dir, tmp_path):
    from fedfair.simulation import simulate

    summary = simulate({"strategy": "single-shot", "dataset": str(synthetic_dir), "ss-kmax": 30, "ss-size": "0.1",
                        "out-dir": str(tmp_path / "run")}, num_supernodes=8, echo=False)
    assert summary["rounds"] == 1 and len(summary["clients"]) == 8
    records = summary["synthesis"]
    assert len(records) == 8
    for record in records.values():
        assert record["n-synthetic"] == 120  # 10 % of 1,200 training rows
        assert record["bytes-uploaded"] == 120 * 4 + 120 + 120  # float32 x (1 feature), int8 s and y
        assert record["min-distance"] >= 0 and abs(record["spd-test"]) <= 1
    assert summary["server"]["rows"] == 8 * 120
    # one query and one evaluation per client; the upload holds the synthetic arrays
    traffic = summary["communication"]["clients"]
    assert all(t["messages"] == 2 for t in traffic.values())
    assert all(traffic[c]["up_bytes"] >= records[c]["bytes-uploaded"] for c in records)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {r["round"] for r in rows} == {1}


def test_a_sensitive_attribute_with_more_than_two_values_is_refused(tmp_path):
    from fedfair.simulation import simulate
    from fedfair.partitioners.synthetic_gaussian import sample_client
    from fedfair.partitioners.writer import write_federated_dataset

    rng = np.random.default_rng(0)
    clients = []
    for name in ("a", "b"):
        splits = {}
        for split in ("train", "test"):
            frame = sample_client((1.0, -1.0, 1.0, -1.0), 100, rng)
            frame["group"] = rng.integers(0, 3, len(frame))
            splits[split] = frame
        clients.append((name, splits))
    root = write_federated_dataset(tmp_path / "three", name="three", clients=clients, features=["x"], label="y",
                                   positive_label=1, sensitive={"group": {"values": [0, 1, 2]}},
                                   default_model={"model": "logreg"}, source={"kind": "test"}, seed=0)
    with pytest.raises(Exception, match="sensitive attribute 'group' has 3 values .* handles a binary one"):
        simulate({"strategy": "single-shot", "dataset": str(root), "out-dir": str(tmp_path / "run")},
                 num_supernodes=2, echo=False)


def test_every_strategy_counts_its_bytes_and_compare_shows_them(synthetic_dir, tmp_path):
    """FedAvg sends the model down in every train message and up in every train reply; rounds 1-2 are evaluated
    in the next train message, round 3 in an evaluate message (the model down again)."""
    from flwr.app import ArrayRecord

    from fedfair.comparison import write_outputs, summarise
    from fedfair.models import build_model
    from fedfair.simulation import simulate

    summary = simulate({"strategy": "fedavg", "dataset": str(synthetic_dir), "rounds": 3,
                        "out-dir": str(tmp_path / "fedavg")}, num_supernodes=8, echo=False)
    model_bytes = ArrayRecord(build_model({"model": "logreg"}, 1).state_dict()).count_bytes()
    for record in summary["communication"]["clients"].values():
        assert record["messages"] == 4  # 3 train + the final evaluate
        assert record["down_bytes"] > 4 * model_bytes and record["up_bytes"] > 3 * model_bytes
    total = summary["communication"]
    assert total["down_bytes"] == sum(c["down_bytes"] for c in total["clients"].values())
    write_outputs(tmp_path / "cmp", summarise(["fedavg"], [summary]), [summary],
                  {"dataset": str(synthetic_dir), "rounds": 3, "seeds": [0]})
    table = (tmp_path / "cmp" / "table.md").read_text()
    assert "| MB down | MB up |" in table and f"{total['down_bytes'] / 1e6:.3f}" in table


def test_message_bytes_count_arrays_configs_and_empty_strings():
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

    from fedfair.strategies.nodes import message_bytes

    content = RecordDict({"arrays": ArrayRecord({"w": Array(np.zeros((3, 4), dtype=np.float32))}),
                          "config": ConfigRecord({"dataset-dir": "", "lr": 0.1, "keep": True, "tags": ["ab", "c"]}),
                          "metrics": MetricRecord({"loss": 0.5})})
    expected = content["arrays"].count_bytes() + (len("dataset-dir") + 0) + (2 + 8) + (4 + 1) + (4 + 3) + (4 + 8)
    assert message_bytes(Message(content, dst_node_id=1, message_type="train")) == expected


def test_a_client_with_one_group_or_a_stalled_inner_solve_is_recorded_not_fatal():
    from fedfair.data import ClientData, Split
    from fedfair.singleshot import client_synthesis

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    one_group = Split(x, y, {"sex": np.ones(120, dtype=np.int64)})
    data = ClientData(name="solo", partition_id=0, train=one_group, test=one_group, val=None,
                      sensitive_values={"sex": [1, 2]})
    config = {"sensitive": "sex", "ss-size": "40", "ss-kmax": 5, "ss-inner-iters": 1, "ss-rho-o": 10.0}
    answer = client_synthesis(data, config)
    assert "has one group only: the covariance penalty is zero" in answer.notes["synthesis-note"]
    assert set(answer.arrays["s"].tolist()) == {1}  # only the cells the client has
    assert answer.metrics["covariance-real"] == 0.0
    # one L-BFGS iteration per inner solve cannot converge: counted with the worst gradient norm
    assert answer.metrics["inner-failures"] == 5 and answer.metrics["worst-inner-gradient"] > 1e-6
