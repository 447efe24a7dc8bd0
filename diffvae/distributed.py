"""Data-parallel training on Keras's own engine (``keras.distribution``, JAX backend).

One process per machine (or per device group); ``keras.distribution.initialize`` joins them
(through ``jax.distributed``) and :func:`data_parallel` sets ``keras.distribution.DataParallel``
over every device of every process: each step's global batch is split across the devices and
the gradients are averaged by XLA's collectives. Each process reads its own share of the cells
(:func:`process_shard`), so the global batch is the same whatever the number of processes.
Nothing here exchanges gradients or parameters itself.
"""
from __future__ import annotations

import os

from .errors import InputError


def data_parallel() -> None:
    """Join the processes the ``KERAS_DISTRIBUTION_*`` variables describe (if any) and train
    every Keras model of this process data-parallel over all their devices."""
    import keras

    if keras.backend.backend() != "jax":
        raise InputError("data-parallel training runs on Keras's JAX backend: set "
                         "KERAS_BACKEND=jax (pip install -e '.[jax]')")
    import jax

    if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
        # CPU devices of several processes need a collectives implementation (GPUs have NCCL)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        keras.distribution.initialize()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))


def process_shard() -> tuple[int, int]:
    """(index of this process, number of processes) of the data-parallel training: (0, 1)
    unless a distribution over several processes is set."""
    import keras

    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return 0, 1
    import jax

    return jax.process_index(), jax.process_count()


def device_shards() -> tuple[int, int, int]:
    """(first, local, total): the devices of the data-parallel training, ``total`` in all and
    ``local`` of them this process's, at positions ``first`` .. ``first + local - 1`` of every
    step's global batch (each device takes an equal slice of axis 0); (0, 1, 1) unless a
    distribution is set."""
    import keras

    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return 0, 1, 1
    import jax

    devices = list(keras.distribution.distribution().device_mesh.devices.flat)
    mine = [i for i, device in enumerate(devices) if device.process_index == jax.process_index()]
    if mine != list(range(mine[0], mine[0] + len(mine))):
        raise InputError("this process's devices are not next to each other in the device mesh")
    return mine[0], len(mine), len(devices)
