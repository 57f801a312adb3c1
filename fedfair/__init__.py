"""fedfair: fairness-aware federated learning on Flower, with per-client accuracy and group fairness."""

__version__ = "0.1.0"
