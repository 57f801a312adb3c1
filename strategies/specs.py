"""The builtin strategies' declarations, apart from their code: their run parameters and client-side plug-ins.

The strategy modules import Flower (and through the models torch); the commands that only list
(``fedfair strategies``, ``fedfair params``, config-file checks) read the builtins' declarations here
instead, so that they start in a fraction of a second. This module imports neither Flower nor torch.

Each builtin strategy class takes its own parameters from here (``extra_params = SPECS["ifca"].params``);
``objectives`` / ``adapt`` are written in both places (tests/test_cli_imports.py checks that they agree). A new
builtin strategy adds a line to :data:`SPECS` next to its line in :data:`fedfair.registry.STRATEGIES`; a
plugin strategy declares everything on its class (it is imported when listed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fedfair.config import COMMON_PARAMS, MITIGATIONS, SENSITIVE_PARAM, Param
from fedfair.strategies.fairness import FAIRNESS_PARAMS

# ----- parameters several strategies share -------------------------------------------------------------------
NUM_CLUSTERS = Param(int, 2, "IFCA / Fair-FCA / FL+HC / Fair-FL+HC: number of clusters K (seed 000 uses 2); "
                     "for FL+HC 0 = cut the tree at hc-threshold instead", "integer >= 0", lambda x: x >= 0)

LINKAGES = ("ward", "average", "complete", "single")

ACTIVE_RATE = Param(float, 1.0, "multi-task strategies: fraction C of clients active each round (m = C x K; seed 003 "
                    "uses 0.35, 0.25 or 1)", "float in (0, 1]", lambda x: 0 < x <= 1)


RECRUIT_PARAMS = {
    "recruit": Param(str, "", "multi-task strategies: recruit clients per task before training with this auction "
                     "(budget-fair, mmfl-max-min, gmm-fair, val-threshold, greedy-within-budget, random-within-budget; "
                     "'' = everyone trains)", "'' or a mechanism of `fedfair auction`"),
    "budget": Param(float, 0.0, "recruitment: total budget B shared by the tasks (bids are costs in [0, 1])",
                    "float >= 0 (> 0 with recruit)", lambda x: x >= 0),
    "bids": Param(str, "", "recruitment: CSV user,task,bid with the task set's client and task names"),
    "bid-distributions": Param(str, "", "recruitment: seeded bids, one law per task: gauss:MEAN:STD, linear or uniform, "
                               "e.g. gauss:0.5:0.2,linear"),
    "fractional": Param(bool, True, "recruitment with mmfl-max-min: keep Algorithm 3's fractional last round"),
    "posted-price": Param(float, 0.4, "recruitment with val-threshold: the posted price", "float in (0, 1]",
                          lambda x: 0 < x <= 1),
    "allow-empty-tasks": Param(bool, False, "recruitment: train the other tasks when a task recruits nobody "
                               "(default: stop with an error)"),
}

GROUP_WEIGHTED_PARAMS = {k: FAIRNESS_PARAMS[k] for k in ("fairness", "sensitive")}


def _size(text: str) -> bool:
    from fedfair.singleshot import parse_size  # scipy: only when a run's value is checked

    try:
        parse_size(text)
    except ValueError:
        return False
    return True


# ----- each strategy's own --------------------------------------------------------------------------------
IFCA_PARAMS = {
    "num-clusters": NUM_CLUSTERS,
    "ifca-init": Param(str, "client", "IFCA / Fair-FCA initial cluster models: client (one random client's "
                       "local model per cluster, Algorithm 1) or random (K seeded random models)",
                       "client or random", lambda x: x in ("client", "random")),
}

FAIR_FCA_PARAMS = {**IFCA_PARAMS, **FAIRNESS_PARAMS}

FLHC_PARAMS = {
    "hc-k1": Param(int, 5, "FL+HC / Fair-FL+HC: FedAvg rounds before clustering (k1; k2 = rounds - k1)",
                   "integer >= 0", lambda x: x >= 0),
    "hc-local-epochs": Param(int, 1, "FL+HC / Fair-FL+HC: local epochs E of the personalisation step that "
                             "produces the models being clustered", "integer >= 1", lambda x: x >= 1),
    "hc-threshold": Param(float, 0.35, "FL+HC / Fair-FL+HC: distance threshold of the hierarchical clustering "
                          "(seed 000 Fig. 7 uses 0.35); ignored when num-clusters > 0", "float > 0", lambda x: x > 0),
    "hc-linkage": Param(str, "ward", "FL+HC / Fair-FL+HC: linkage of the agglomerative clustering",
                        ", ".join(LINKAGES), lambda x: x in LINKAGES),
    "num-clusters": NUM_CLUSTERS,
}

FAIR_FLHC_PARAMS = {
    **FLHC_PARAMS,
    **FAIRNESS_PARAMS,
    "psi-reading": Param(str, "cross", "Fair-FL+HC: Psi_ij = worst f-gap of i's model on j's data or vice versa "
                         "(cross, the paper's text) or max of each client's own gap (self, the printed formula)",
                         "cross or self", lambda x: x in ("cross", "self")),
    "hc-normalise-distance": Param(bool, False, "Fair-FL+HC: divide D by its max before mixing it with Psi"),
}

CFL_PARAMS = {
    "cfl-eps1": Param(float, 0.4, "CFL-Cosine: split only if the norm of the cluster's mean update is below eps1",
                      "float > 0", lambda x: x > 0),
    "cfl-eps2": Param(float, 1.6, "CFL-Cosine: split only if the largest client update norm is above eps2",
                      "float >= 0", lambda x: x >= 0),
    "cfl-warmup": Param(int, 5, "CFL-Cosine: no split before this round", "integer >= 0", lambda x: x >= 0),
    "cfl-min-size": Param(int, 3, "CFL-Cosine: smallest cluster that may be split", "integer >= 2", lambda x: x >= 2),
}

FAIRFED_PARAMS = {
    **{k: FAIRNESS_PARAMS[k] for k in ("fairness", "sensitive")},
    "fairfed-beta": Param(float, 1.0, "FairFed / FairFed-AF: step beta of the weight update", "float >= 0",
                          lambda x: x >= 0),
}

FAIRFED_AF_PARAMS = {
    **FAIRFED_PARAMS,
    "fairfed-acc-weight": Param(float, 0.5, "FairFed-AF: weight lambda of the accuracy deviation in Delta_k",
                                "float in [0, 1]", lambda x: 0 <= x <= 1),
}

QFFL_PARAMS = {
    "qffl-q": Param(float, 1.0, "q-FFL: fairness parameter q of the objective sum_k F_k^(q+1) / (q + 1) "
                    "(0 = FedAvg's objective, unweighted)", "float >= 0", lambda x: x >= 0),
}

AFL_PARAMS = {
    "afl-lambda-lr": Param(float, 0.1, "AFL: step size gamma_lambda of the ascent on the mixture weights lambda",
                           "float > 0", lambda x: x > 0),
}

FEDFB_PARAMS = {
    **GROUP_WEIGHTED_PARAMS,
    "fedfb-alpha": Param(float, 0.3, "FedFB: step alpha of the multipliers (alpha / sqrt(t) after round t)",
                         "float > 0", lambda x: x > 0),
}

FAIRBATCH_PARAMS = {
    **GROUP_WEIGHTED_PARAMS,
    "fairbatch-alpha": Param(float, 0.005, "Fed-FairBatch: step alpha of the cell sampling probabilities (a "
                             "probability; FairBatch's step on a within-label share alpha_FB is alpha_FB x P(y))",
                             "float > 0", lambda x: x > 0),
}

FAIRGRAD_PARAMS = {
    **GROUP_WEIGHTED_PARAMS,
    "fairgrad-eta": Param(float, 0.01, "Fed-FairGrad: step eta of the multipliers", "float > 0", lambda x: x > 0),
    "fairgrad-eps": Param(float, 1e-6, "Fed-FairGrad: tolerated unfairness eps of each constraint", "float >= 0",
                          lambda x: x >= 0),
}

MMFL_PARAMS = {
    "alpha": Param(float, 3.0, "FedFairMMFL: alpha of the alpha-fair allocation p_s ~ f_s^(alpha-1) (eq. 5); "
                   "1 = uniform", "float >= 1", lambda x: x >= 1),
    "active-rate": ACTIVE_RATE,
    "mmfl-signal": Param(str, "accuracy", "FedFairMMFL: task loss proxy f_s: accuracy (1 - test accuracy, the "
                         "paper's choice) or loss (mean test loss)", "accuracy or loss",
                         lambda x: x in ("accuracy", "loss")),
    **RECRUIT_PARAMS,
}

MMFL_BASELINE_PARAMS = {"active-rate": ACTIVE_RATE, **RECRUIT_PARAMS}

MMFL_QFFL_PARAMS = {
    **MMFL_BASELINE_PARAMS,
    "mmfl-q": Param(float, 1.0, "q-FFL over tasks: fairness parameter q (0 = plain averaging)", "float >= 0",
                    lambda x: x >= 0),
}

SINGLE_SHOT_PARAMS = {
    "sensitive": SENSITIVE_PARAM,
    "ss-rho-o": Param(float, 10.0, "single-shot: rho_o, penalty on the covariance of the real rows (eq. 11; "
                      "the paper recommends 10)", "float >= 0", lambda x: x >= 0),
    "ss-rho-s": Param(float, 0.0, "single-shot: rho_s, penalty on the covariance of the synthetic rows",
                      "float >= 0", lambda x: x >= 0),
    "ss-lambda-x": Param(float, 1e-4, "single-shot: lambda_x, regulariser of the synthetic features",
                         "float >= 0", lambda x: x >= 0),
    "ss-lambda-theta": Param(float, 1e-3, "single-shot: lambda_theta, regulariser of the inner and server "
                             "logistic regressions", "float >= 0", lambda x: x >= 0),
    "ss-size": Param(str, "copy", "single-shot: synthetic rows N_s: copy ((s, y) of the real rows, x_hat from x) "
                     "or a balanced set of a number of rows (800) or a fraction of N (0.1)",
                     "copy, a row count or a fraction in (0, 1]", _size),
    "ss-kmax": Param(int, 1000, "single-shot: outer Adam iterations k_max", "int >= 0", lambda x: x >= 0),
    "ss-inner-iters": Param(int, 100, "single-shot: L-BFGS iterations per inner solve", "int >= 1",
                            lambda x: x >= 1),
    "ss-lr": Param(float, 0.01, "single-shot: Adam step size on the synthetic features", "float > 0",
                   lambda x: x > 0),
}


def param_components(name: str, extra_params: Mapping[str, Param], objectives: Sequence[str],
                     adapt: str = "") -> dict[str, dict[str, Param]]:
    """The parameters a run of strategy ``name`` reads, by component: common, the strategy's own, its plug-ins'
    (and the client-side mitigations any run may add). The one rule of
    :meth:`fedfair.strategies.base.FedFairStrategy.param_components` and of the builtins' listing."""
    from fedfair.local import objective_class

    components = {"common": dict(COMMON_PARAMS), f"strategy {name}": dict(extra_params)}
    for plugin in dict.fromkeys([*objectives, *([adapt] if adapt else []), *MITIGATIONS, "dp"]):
        components[f"local {plugin}"] = dict(objective_class(plugin).params)
    return components


@dataclass(frozen=True)
class StrategySpec:
    """What a builtin strategy declares: its own run parameters and its client-side plug-ins (names of
    :mod:`fedfair.local`), as the class attributes ``extra_params``, ``objectives`` and ``adapt``."""

    params: Mapping[str, Param] = field(default_factory=dict)
    objectives: tuple[str, ...] = ("sgd",)
    adapt: str = ""

    def param_components(self, name: str) -> dict[str, dict[str, Param]]:
        """:func:`param_components` of the strategy ``name`` declared so."""
        return param_components(name, self.params, self.objectives, self.adapt)


# builtin name (fedfair.registry.STRATEGIES) -> its declaration
SPECS: dict[str, StrategySpec] = {
    "fedavg": StrategySpec(),
    "standalone": StrategySpec(),
    "fedprox": StrategySpec(objectives=("proximal",)),
    "ifca": StrategySpec(IFCA_PARAMS),
    "fair-fca": StrategySpec(FAIR_FCA_PARAMS),
    "flhc": StrategySpec(FLHC_PARAMS),
    "fair-flhc": StrategySpec(FAIR_FLHC_PARAMS),
    "cfl-cosine": StrategySpec(CFL_PARAMS),
    "maml": StrategySpec(objectives=("per-fedavg",), adapt="finetune"),
    "fairfed": StrategySpec(FAIRFED_PARAMS),
    "fairfed-af": StrategySpec(FAIRFED_AF_PARAMS),
    "qffl": StrategySpec(QFFL_PARAMS),
    "afl": StrategySpec(AFL_PARAMS),
    "ditto": StrategySpec(objectives=("ditto",)),
    "fedfb": StrategySpec(FEDFB_PARAMS, objectives=("group-weights",)),
    "fed-fairbatch": StrategySpec(FAIRBATCH_PARAMS, objectives=("group-weights",)),
    "fed-fairgrad": StrategySpec(FAIRGRAD_PARAMS, objectives=("group-weights",)),
    "fedfair-mmfl": StrategySpec(MMFL_PARAMS),
    "mmfl-random": StrategySpec(MMFL_BASELINE_PARAMS),
    "mmfl-round-robin": StrategySpec(MMFL_BASELINE_PARAMS),
    "mmfl-qffl": StrategySpec(MMFL_QFFL_PARAMS),
    "single-shot": StrategySpec(SINGLE_SHOT_PARAMS),
}
