"""An example fedfair plugin package (see README.md): one file per contribution.

- :mod:`fedfair_example.strategy`: FedAvgM, FedAvg with server momentum, keeping its state in its own dataclass;
- :mod:`fedfair_example.objective`: a weight-decay term of the clients' local objective;
- :mod:`fedfair_example.source`: a two-moons source with a sensitive attribute, for ``fedfair data build``;
- :mod:`fedfair_example.model`: a tanh MLP.

They are found by name through the entry points of pyproject.toml (``fedavg-momentum``, ``weight-decay``,
``moons``, ``tanh-mlp``), or as ``fedfair_example.strategy:FedAvgMomentum`` and so on without installing.
"""
