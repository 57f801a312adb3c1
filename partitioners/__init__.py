"""Federated dataset builders: partitioners, builtin datasets, the directory writer."""
