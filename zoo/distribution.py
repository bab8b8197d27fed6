"""tf.distribute set-up for the training recipes; keras-tuner's chief/worker
mode for the searches.

`make_strategy` builds the strategy; under MultiWorkerMirroredStrategy with
several workers, Keras 3's TensorFlow trainer has two bugs this module works
around (see `MultiWorkerModel` and `build_from_local_batch`). `tuner_role`,
`wait_for_chief` and `serve_oracle` run one keras-tuner search across
processes (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`,
`KERASTUNER_ORACLE_PORT`).
"""

from __future__ import annotations

import functools
import json
import os
import time

import keras

from zoo._common import one_line

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
        raw = os.environ["TF_CONFIG"]
        # tf.distribute's own errors say neither where the cluster came from nor what it was
        # ("Expecting value: line 1 column 1", a TypeError about `cluster`).
        try:
            if not isinstance(json.loads(raw or "{}"), dict):
                raise ValueError("not a JSON object")
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(
                "TF_CONFIG must be a JSON object with the `cluster` and this process' `task` "
                f"({one_line(e)}). Received: TF_CONFIG={raw!r}"
            ) from None
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


def tuner_role() -> str:
    """`"local"`, `"chief"` or `"worker"`, from keras-tuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(v)]
    if missing:
        raise ValueError(
            f"Distributed tuning needs {' and '.join(missing)} as well as KERASTUNER_ORACLE_IP. "
            f"Received: KERASTUNER_ORACLE_IP={os.environ['KERASTUNER_ORACLE_IP']!r}"
        )
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def chief_address() -> str:
    return f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"


def wait_for_chief(timeout: float) -> None:
    """Returns once the keras-tuner chief answers; fails after `timeout` seconds.

    keras-tuner's workers wait an hour for each call to the chief; from here
    on they wait `timeout` seconds, so a lost chief fails as fast.

    Raises:
        ConnectionError: If the chief did not answer in time.
    """
    import grpc
    from keras_tuner.src.distribute import oracle_client

    channel = grpc.insecure_channel(chief_address())
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise ConnectionError(
            f"No keras-tuner chief answered at {chief_address()} within {timeout:g} s: start `zoo tune` "
            "with KERASTUNER_TUNER_ID=chief there, or wait longer with --chief-timeout."
        ) from None
    finally:
        channel.close()
    oracle_client.TIMEOUT = timeout


def serve_oracle(oracle, poll_s: float = 0.5) -> None:
    """Serves a search to the workers until they have all finished.

    keras-tuner's `oracle_chief.start_server`, with its servicer, except that
    it checks for the end every `poll_s` rather than every 20 seconds, says
    when it cannot bind its port, and stops its server.

    Raises:
        ConnectionError: If the port cannot be bound.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        server.add_insecure_port(chief_address())
    except RuntimeError:
        raise ConnectionError(f"The keras-tuner chief cannot listen on {chief_address()}: is it in use?") from None
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll_s)
    finally:
        server.stop(grace=2)
