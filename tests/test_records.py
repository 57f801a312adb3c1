"""fedfair.records: held arrays are Flower Arrays to every reader (bytes, ids, wire, pickle), without encoding."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents

from fedfair.records import HeldArray, array_bytes, config_copy, held_record

ARRAYS = [np.arange(12, dtype=np.float32).reshape(3, 4), np.zeros(0), np.arange(5), np.ones((2, 3, 4), np.float16),
          np.array([True, False]), np.linspace(0, 1, 1000).reshape(10, 100).T]  # the last one not C-contiguous


@pytest.mark.parametrize("values", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_held_array_is_the_plain_array(values):
    held, plain = HeldArray(values), Array(np.ascontiguousarray(values))
    assert held.serialised_size() == len(plain.data)  # counted before any encoding
    assert held == plain and plain == held
    assert held.data == plain.data and held.object_id == plain.object_id
    np.testing.assert_array_equal(held.numpy(), values)
    assert pickle.loads(pickle.dumps(held)) == plain and copy.deepcopy(held) == plain


def test_held_values_are_private():
    values = np.zeros(3)
    held = HeldArray(values)
    values[0] = 5.0  # the caller's array changes later: the held copy does not
    out = held.numpy()
    out[1] = 7.0  # a reader changes what it got: the next reader does not see it
    np.testing.assert_array_equal(held.numpy(), np.zeros(3))


def test_held_record_travels_as_flowers_record():
    state = {"0.weight": torch.randn(4, 3), "0.bias": torch.randn(4)}
    held, plain = held_record(state), ArrayRecord(state)
    assert array_bytes(held) == plain.count_bytes() == array_bytes(plain)
    assert held.object_id == plain.object_id
    objects = get_all_nested_objects(held)  # what Flower's messaging deflates and inflates on the other side
    arrived = inflate_object_from_contents(held.object_id, {k: o.deflate() for k, o in objects.items()})
    assert type(arrived["0.weight"]) is Array and arrived == plain
    for key, tensor in arrived.to_torch_state_dict().items():
        assert torch.equal(tensor, state[key])


def test_config_copy_is_independent():
    base = ConfigRecord({"lr": 0.1, "objectives": "proximal"})
    copied = config_copy(base, **{"train-seed": 7})
    copied["lr"] = 0.5
    assert dict(base) == {"lr": 0.1, "objectives": "proximal"}
    assert dict(copied) == {"lr": 0.5, "objectives": "proximal", "train-seed": 7}
    with pytest.raises(TypeError):  # values set through it are checked as Flower checks them
        config_copy(base, bad=object())
