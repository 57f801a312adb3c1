"""The same app through Flower's own launchers: `flwr run .` (local SuperLink,
simulation) and a deployment of flower-superlink + two flower-supernodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedfair.simulation import OFFLINE_ENV, simulate
from tests.conftest import REPO
from tests.procs import free_port, pids_with, start, stop, wait_for_port

# one file, so one xdist worker (--dist loadfile): `flwr run .`'s local SuperLink has one port
pytestmark = pytest.mark.slow
FLWR = str(Path(sys.executable).with_name("flwr"))


def _env(flwr_home: Path) -> dict[str, str]:
    flwr_home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, **OFFLINE_ENV, "FLWR_HOME": str(flwr_home)}


def _strip(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "wall_seconds"}


def _flwr_run_dot(tmp_path: Path, run_config: str) -> tuple[subprocess.CompletedProcess, Path]:
    """`flwr run .` with 8 simulated SuperNodes; every process it started is stopped. The local SuperLink it
    starts gets free ports (Flower's fixed 39091 / 39093 collide with another test run on the same machine)."""
    env = {**_env(tmp_path / "flwr-home"), "FLWR_LOCAL_SUPERLINK_HTTP_API_PORT": str(free_port()),
           "FLWR_LOCAL_CONTROL_API_PORT": str(free_port())}
    out = tmp_path / "flwr-run"
    cmd = [FLWR, "run", ".", "--stream", "--run-config", f"{run_config} out-dir='{out}'",
           "--federation-config", "num-supernodes=8"]
    try:
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    finally:
        stop(pids_with(str(tmp_path / "flwr-home")))
    assert done.returncode == 0, done.stdout + done.stderr
    return done, out


def test_flwr_run_dot_runs_the_default_app(tmp_path):
    done, out = _flwr_run_dot(tmp_path, "rounds=2")
    assert json.loads((out / "status.json").read_text())["status"] == "complete", done.stdout
    summary = json.loads((out / "summary.json").read_text())
    # the same run through `fedfair run`'s in-process engine gives the same summary
    direct = simulate({"rounds": 2, "out-dir": str(tmp_path / "direct"), "batch-clients": False}, num_supernodes=8, echo=False)
    assert _strip(summary) == _strip(json.loads(json.dumps(direct)))
    assert not pids_with(str(tmp_path / "flwr-home"))
    # `flwr run .` ends with the per-client tables `fedfair run` prints (accuracy, then one block per attribute)
    assert f"fedavg on {summary['dataset']}: 2 rounds" in done.stdout and "fairness gaps on" in done.stdout, done.stdout


@pytest.mark.parametrize("config", [
    {"strategy": "fair-fca", "gamma": 0.5, "rounds": 2},
    {"strategy": "fair-flhc", "gamma": 0.3, "rounds": 2, "hc-k1": 1, "num-clusters": 0},
])
def test_flwr_run_dot_runs_the_fair_clustering_strategies(tmp_path, config):
    text = " ".join(f"{k}='{v}'" if isinstance(v, str) else f"{k}={v}" for k, v in config.items())
    _, out = _flwr_run_dot(tmp_path, text)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategy"] == config["strategy"] and summary["clusters"]
    direct = simulate({**config, "out-dir": str(tmp_path / "direct"), "batch-clients": False}, num_supernodes=8, echo=False)
    assert _strip(summary) == _strip(json.loads(json.dumps(direct)))


def _deploy(tmp_path: Path, dataset_dir: Path, clients: tuple[str, ...], *run_configs: str) -> tuple[list[Path], list]:
    """flower-superlink + one flower-supernode per client (node-config names the dataset and client), then
    `flwr run . local-deploy` once per run config, one after the other on the same SuperNodes; every process is
    stopped. Returns the run directories and the processes."""
    env = _env(tmp_path / "flwr-home")
    port = free_port()
    (tmp_path / "flwr-home" / "config.toml").write_text(
        f'[superlink]\ndefault = "local-deploy"\n\n[superlink.local-deploy]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
    )
    bindir = Path(sys.executable).parent
    procs = [start([str(bindir / "flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(port)],
                   tmp_path / "superlink.log", env)]
    outs = [tmp_path / f"deployed-{k}" for k in range(len(run_configs))]
    runs = []
    try:
        wait_for_port(port)
        for client in clients:
            procs.append(start(
                [str(bindir / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{port}",
                 "--host", "127.0.0.1", "--port", str(free_port()),
                 "--node-config", f"dataset-dir='{dataset_dir}' client='{client}'"],
                tmp_path / f"supernode-{client}.log", env))
        for out, run_config in zip(outs, run_configs):
            runs.append(subprocess.run(
                [FLWR, "run", ".", "local-deploy", "--stream", "--run-config",
                 f"dataset='' min-nodes={len(clients)} out-dir='{out}' {run_config}"],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
            ))
            if runs[-1].returncode != 0:
                break
    finally:
        stop([p.pid for p in procs])
    logs = "".join(d.stdout + d.stderr for d in runs) + "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert len(runs) == len(run_configs) and all(d.returncode == 0 for d in runs), logs
    for out in outs:
        assert json.loads((out / "status.json").read_text())["status"] == "complete", logs
    return outs, procs


SINGLE_SHOT = "strategy='single-shot' ss-kmax=20 ss-size='0.1'"


def test_deployment_superlink_and_two_supernodes(synthetic_dir, tmp_path):
    """FedFB (FedAvg's round plus the cell-statistics query and weighted training: the deployed path of the
    group-fairness baselines; plain FedAvg is deployed by the TLS test), then seed 001's one exchange
    (query.synthesize), on the same two SuperNodes."""
    (out, single_shot), procs = _deploy(tmp_path, synthetic_dir, ("1", "2"), "strategy='fedfb' rounds=2", SINGLE_SHOT)
    summary = json.loads((single_shot / "summary.json").read_text())
    assert sorted(summary["synthesis"]) == ["1", "2"] and [c["client"] for c in summary["clients"]] == ["1", "2"]
    assert all(c["messages"] == 2 for c in summary["communication"]["clients"].values())
    summary = json.loads((out / "summary.json").read_text())
    assert [c["client"] for c in summary["clients"]] == ["1", "2"]
    assert [c["n_train"] for c in summary["clients"]] == [1200, 1200]
    assert summary["rounds"] == 2 and summary["strategy"] == "fedfb"
    assert [r["round"] for r in summary["group_weights"]["rounds"]] == [1, 2]
    assert all(0.5 < c["accuracy"] <= 1.0 for c in summary["clients"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["round"], r["client"]) for r in rows] == [(1, "1"), (1, "2"), (2, "1"), (2, "2")]
    for p in procs:  # SuperLink and SuperNodes stopped: each exits within 15 s (TimeoutExpired otherwise)
        p.wait(timeout=15)


@pytest.fixture(scope="module")
def digit_task_set(tmp_path_factory):
    """Two small image tasks (digits, rotated digits) over 8 clients, logistic regression."""
    from fedfair.partitioners.builder import build_dataset
    from fedfair.partitioners.builtins import image_spec
    from fedfair.partitioners.task_sets import combine_task_set

    root = tmp_path_factory.mktemp("taskset")
    for name, variant in (("digits", {}), ("digits-rot", {"rotate": 1})):
        spec = image_spec("digits", 0, clients=8, limit=None, dataset_name=name, **variant)
        spec.default_model = {"model": "logreg"}
        build_dataset(spec, root / name)
    return combine_task_set(root / "set", [(n, str(root / n), None) for n in ("digits", "digits-rot")])


def test_task_set_through_flwr_run_dot_and_deployment(digit_task_set, tmp_path):
    # recruitment before training (seed 003 Section V) through `flwr run .`: the same outcome as a direct run
    recruit = "recruit='mmfl-max-min' budget=2.0 bid-distributions='uniform,linear'"
    _, out = _flwr_run_dot(tmp_path / "sim", f"strategy='fedfair-mmfl' dataset='{digit_task_set}' rounds=2 {recruit}")
    summary = json.loads((out / "summary.json").read_text())
    direct = simulate({"strategy": "fedfair-mmfl", "dataset": str(digit_task_set), "rounds": 2, "recruit": "mmfl-max-min",
                       "budget": 2.0, "bid-distributions": "uniform,linear", "out-dir": str(tmp_path / "direct"),
                       "batch-clients": False},
                      num_supernodes=8, echo=False)
    assert _strip(summary) == _strip(json.loads(json.dumps(direct)))
    winners = summary["recruitment"]["winners"]
    assert 0 < len(winners["digits"]) < 8 and summary["recruitment"]["spent"] <= 2.0 + 1e-9
    assert all(c in winners[t] for e in summary["allocation"] for c, t in e["tasks"].items())
    (deployed,), _ = _deploy(tmp_path / "deploy", digit_task_set, ("0", "1"), "strategy='mmfl-round-robin' rounds=2")
    summary = json.loads((deployed / "summary.json").read_text())
    assert set(summary["tasks"]) == {"digits", "digits-rot"}
    assert [c["client"] for c in summary["tasks"]["digits"]["clients"]] == ["0", "1"]
    assert [e["tasks"] for e in summary["allocation"]] == [{"0": "digits-rot", "1": "digits"},
                                                           {"0": "digits", "1": "digits-rot"}]


def test_single_shot_through_flwr_run_dot(tmp_path):
    """Seed 001's one exchange through `flwr run .` (its deployment: test_deployment_superlink_and_two_supernodes)."""
    _, out = _flwr_run_dot(tmp_path / "sim", SINGLE_SHOT)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"] == 1 and len(summary["synthesis"]) == 8
    assert all(r["n-synthetic"] == 120 for r in summary["synthesis"].values())


def test_tls_and_supernode_authentication_deployment(synthetic_dir, tmp_path):
    """SuperLink with TLS and CLI-managed SuperNode authentication: two registered SuperNodes run a round
    trip over TLS; an unregistered SuperNode (a valid key the SuperLink does not know) is refused."""
    from fedfair.certificates import write_certificates

    certs = tmp_path / "certs"
    write_certificates(certs, ["127.0.0.1", "localhost"], nodes=3)
    env = _env(tmp_path / "flwr-home")
    port = free_port()
    (tmp_path / "flwr-home" / "config.toml").write_text(
        f'[superlink]\ndefault = "secure"\n\n[superlink.secure]\naddress = "127.0.0.1:{port}"\n'
        f'root-certificates = "{certs / "ca.crt"}"\n'
    )
    bindir = Path(sys.executable).parent
    procs = [start([str(bindir / "flower-superlink"), "--ssl-ca-certfile", str(certs / "ca.crt"),
                    "--ssl-certfile", str(certs / "server.pem"), "--ssl-keyfile", str(certs / "server.key"),
                    "--enable-supernode-auth", "--host", "127.0.0.1", "--port", str(port)],
                   tmp_path / "superlink.log", env)]
    out = tmp_path / "secure-run"

    def supernode(key: str, client: str) -> subprocess.Popen:
        return start([str(bindir / "flower-supernode"), "--root-certificates", str(certs / "ca.crt"),
                      "--superlink", f"127.0.0.1:{port}", "--auth-supernode-private-key", str(certs / key),
                      "--host", "127.0.0.1", "--port", str(free_port()),
                      "--node-config", f"dataset-dir='{synthetic_dir}' client='{client}'"],
                     tmp_path / f"supernode-{client}.log", env)

    try:
        wait_for_port(port)
        for k in (1, 2):  # the operator registers the SuperNodes' public keys over the TLS Control API
            done = subprocess.run([FLWR, "supernode", "register", str(certs / f"node-{k}.pub"), "secure"],
                                  cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and "registered successfully" in done.stdout, done.stdout + done.stderr
        procs += [supernode("node-1.key", "1"), supernode("node-2.key", "2")]
        intruder = supernode("node-3.key", "3")
        procs.append(intruder)
        assert intruder.wait(timeout=60) != 0  # refused: its key was never registered
        assert "Failed to activate SuperNode" in (tmp_path / "supernode-3.log").read_text()
        done = subprocess.run(
            [FLWR, "run", ".", "secure", "--stream", "--run-config", f"dataset='' min-nodes=2 rounds=1 out-dir='{out}'"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
        )
    finally:
        stop([p.pid for p in procs])
    logs = done.stdout + done.stderr + "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert done.returncode == 0, logs
    summary = json.loads((out / "summary.json").read_text())
    assert [c["client"] for c in summary["clients"]] == ["1", "2"]
    assert "Uvicorn running on https://" in (tmp_path / "superlink.log").read_text()


def test_a_plugin_runs_through_flwr_run_dot(tmp_path):
    """The example plugin (examples/plugin, tests/test_plugins.py) through `flwr run .`: its own parameters travel
    in plugin-params, and the summary equals fedfair.run's."""
    import fedfair

    _, out = _flwr_run_dot(tmp_path, "strategy='fedavg-momentum' rounds=2 model='tanh-mlp' "
                                     "plugin-params='momentum-beta=0.5;weight-decay=0.001'")
    summary = json.loads((out / "summary.json").read_text())
    direct = fedfair.run("fedavg-momentum", "synthetic-gaussian-8", rounds=2, out=tmp_path / "direct",
                         model="tanh-mlp", momentum_beta=0.5, weight_decay=0.001)
    assert _strip(summary) == _strip(direct.summary)
