"""tf.distribute set-up for the training recipes.

`make_strategy` builds the strategy; under MultiWorkerMirroredStrategy with
several workers, Keras 3's TensorFlow trainer has two bugs this module works
around (see `MultiWorkerModel` and `build_from_local_batch`).
"""

from __future__ import annotations

import functools
import os

import keras

STRATEGIES = (None, "mirrored", "multiworker")


def make_strategy(kind):
    import tensorflow as tf

    if kind is None:
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if kind == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "`--strategy multiworker` reads the cluster from the TF_CONFIG environment "
                "variable, which is not set. Received: strategy='multiworker'"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"`strategy` must be one of {list(STRATEGIES)}. Received: strategy={kind!r}")


class MultiWorkerModel(keras.Model):
    """A Functional model whose step logs have shape [1] instead of ().

    Under MultiWorkerMirroredStrategy with several workers, Keras 3's
    TensorFlow trainer reduces each log with `strategy.reduce("MEAN", v,
    axis=0)`, which fails on scalars ("Invalid reduction dimension 0 for input
    with 0 dimensions", tensorflow/tensorflow#72388).
    """

    def train_step(self, data):
        import tensorflow as tf

        return {k: tf.reshape(v, [1]) for k, v in super().train_step(data).items()}

    def test_step(self, data):
        import tensorflow as tf

        return {k: tf.reshape(v, [1]) for k, v in super().test_step(data).items()}


def build_from_local_batch(model, iterator=None, data_batch=None):
    """`_maybe_symbolic_build` for MultiWorkerMirroredStrategy.

    Keras' TensorFlow trainer all-reduces the first batch, an (x, y) nest,
    with `strategy.reduce`, which MultiWorkerMirroredStrategy rejects across
    workers ("Attempt to convert a value (PerReplica...)"). Building needs only
    shapes and dtypes, which the local replica's batch has.
    """
    import tensorflow as tf

    local = lambda v: (  # noqa: E731
        model.distribute_strategy.experimental_local_results(v)[0]
        if isinstance(v, tf.distribute.DistributedValues) else v
    )
    if data_batch is None and iterator is not None:
        for _, _, batches in iterator:
            data_batch = tf.nest.map_structure(local, next(batches))
            break
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=data_batch)


def for_multiple_workers(model: keras.Model) -> keras.Model:
    """The same layers, trainable under MultiWorkerMirroredStrategy (see above)."""
    wrapped = MultiWorkerModel(model.inputs, model.outputs, name=model.name)
    wrapped._maybe_symbolic_build = functools.partial(build_from_local_batch, wrapped)
    return wrapped


def is_chief(strategy) -> bool:
    """Whether this process writes the run's outputs (always, without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )
