"""Flower records without needless serialisation: arrays that keep their numpy values, config records copied whole.

A Flower :class:`~flwr.app.Array` holds ``np.save`` bytes: every ``Array(ndarray)`` encodes and every
``.numpy()`` decodes (``np.load`` parses a header with ``ast.literal_eval``), ~30 us a tensor. On the
in-process engine nothing crosses a process boundary, yet a 1,000-client round encoded and decoded every
client's weights three times (the reply, the divergence check, the aggregation): a third of a batched round
(issue 31). :class:`HeldArray` is an ``Array`` that keeps its values and writes the bytes only when something
reads ``.data`` (Flower's serialisation for Ray or gRPC, a checkpoint): to every reader it is the same Array.

:func:`config_copy` copies a :class:`~flwr.app.ConfigRecord` whose values were checked when it was built,
without checking them again key by key (a round's train messages share most of their config).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from io import BytesIO
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord
from flwr.app.message.array import SType


class HeldArray(Array):
    """An :class:`~flwr.app.Array` of a numpy array, serialised (``np.save``, as ``Array(ndarray)``) only when
    its ``data`` is read; ``numpy()`` returns a fresh copy of the values, as ``np.load`` would."""

    def __init__(self, values: np.ndarray) -> None:  # pylint: disable=super-init-not-called
        held = np.array(values, copy=True, order="C")  # owned: later changes to ``values`` do not leak in
        self.__dict__.update(dtype=str(held.dtype), shape=tuple(held.shape), stype=SType.NUMPY, _held=held)

    def __getattr__(self, name: str) -> Any:  # only for attributes not set: ``data`` until first read
        if name != "data":
            raise AttributeError(name)
        buffer = BytesIO()
        np.save(buffer, self.__dict__["_held"], allow_pickle=False)
        self.__dict__["data"] = buffer.getvalue()
        return self.__dict__["data"]

    def numpy(self) -> np.ndarray:
        return self.__dict__["_held"].copy()

    def serialised_size(self) -> int:
        """``len(self.data)``, without serialising: np.save's header (format 1.0) plus the values' bytes."""
        if "data" in self.__dict__:
            return len(self.__dict__["data"])
        held = self.__dict__["_held"]
        return _header_size(held.dtype, held.shape) + held.nbytes

    def __eq__(self, other: object) -> bool:  # equal to the plain Array of the same values (and vice versa)
        if not isinstance(other, Array):
            return NotImplemented
        return (self.dtype, self.shape, self.stype, self.data) == (other.dtype, other.shape, other.stype, other.data)

    __hash__ = None  # as Array's (a dataclass with eq)

    def __reduce__(self) -> tuple:
        return _held_array, (self.__dict__["_held"],)  # by function: the class's name is Array's (below)


def _held_array(values: np.ndarray) -> HeldArray:
    return HeldArray(values)


# Flower writes an object's class name into its serialised header and finds the class by that name when it
# inflates the object on the other side: a HeldArray travels, and arrives, as an Array
HeldArray.__qualname__ = Array.__qualname__


@functools.lru_cache(maxsize=1024)
def _header_size(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    buffer = BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                   "fortran_order": False, "shape": shape})
    return len(buffer.getvalue())  # magic, version, header length and header, padded as np.save pads them


def array_bytes(record: ArrayRecord) -> int:
    """``record.count_bytes()`` (its arrays' serialised bytes plus its keys), without serialising held arrays."""
    return sum(len(key) + (array.serialised_size() if isinstance(array, HeldArray) else len(array.data))
               for key, array in record.items())


def held_record(values: Mapping[str, Any]) -> ArrayRecord:
    """An ArrayRecord of :class:`HeldArray` from a state dict (torch tensors, moved to the host) or numpy arrays;
    the same record ``ArrayRecord(state_dict)`` builds, without encoding."""
    record = ArrayRecord()
    for key, value in values.items():
        if not isinstance(value, np.ndarray):
            value = value.detach().cpu().numpy()
        record[key] = HeldArray(value)
    return record


def config_copy(record: ConfigRecord, **changes: Any) -> ConfigRecord:
    """A copy of ``record`` with ``changes`` set (those checked as usual)."""
    copy = ConfigRecord()
    data = record.__dict__.get("_data")
    if isinstance(data, dict) and isinstance(copy.__dict__.get("_data"), dict):
        copy.__dict__["_data"].update(data)  # values checked when ``record`` was built
    else:  # another Flower version's layout: the checked way
        copy.update(record)
    copy.update(changes)
    return copy


__all__ = ["HeldArray", "array_bytes", "held_record", "config_copy"]
