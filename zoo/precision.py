"""The compute precision of a run, chosen on the machine where it happens.

bfloat16 halves the memory traffic of a convnet and doubles the matmul rate,
but only on hardware that computes it natively: CPUs with AVX512_BF16 or
AMX-BF16 instructions (Intel Cooper Lake and Sapphire Rapids on, AMD Zen 4
on) and GPUs of compute capability 8.0 and up. Elsewhere TensorFlow emulates
it, several times slower than float32 (6x on a Zen 3 CPU, see
PERF-NOTES). `choose_precision("auto")` therefore picks, in order:

- on a GPU: bfloat16 from compute capability 8.0 (Ampere) on; float16 with
  loss scaling (Keras' `mixed_float16` policy wraps the optimizer in a
  `LossScaleOptimizer` at compile time) from 7.0 (Volta); else float32;
- on a CPU: bfloat16 when the CPU reports AVX512_BF16 or AMX-BF16, else
  float32.

Weights stay float32 in every case (Keras' mixed policies); only the
compute dtype changes. The choice comes with the reason and the device, for
the run's first lines and its `summary.json`.
"""

from __future__ import annotations

import dataclasses
import platform
import re

from zoo._common import check_choice

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# Keras dtype policy of each precision: float32 weights, this compute dtype.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# CPU flags (as /proc/cpuinfo names them) that say bfloat16 runs natively.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# Flags worth reporting beside a figure: what decides CPU speed here.
REPORTED_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


@dataclasses.dataclass(frozen=True)
class Device:
    """The device a run computes on.

    Attributes:
        kind: `"cpu"` or `"gpu"`.
        name: The CPU model name or the GPU name.
        flags: For a CPU, which of `REPORTED_CPU_FLAGS` it has (None where
            they cannot be read); for a GPU, None.
        compute_capability: For an NVIDIA GPU, `(major, minor)`; else None.
    """

    kind: str
    name: str
    flags: tuple | None = None
    compute_capability: tuple | None = None

    def describe(self) -> str:
        """One phrase for run logs and figures, e.g. `AMD EPYC (CPU, AVX-512 BF16)`."""
        if self.kind == "gpu":
            cc = f", compute capability {self.compute_capability[0]}.{self.compute_capability[1]}" \
                if self.compute_capability else ""
            return f"{self.name} (GPU{cc})"
        if self.flags is None:
            return f"{self.name} (CPU, instruction sets unknown)"
        if any(f in self.flags for f in BF16_CPU_FLAGS):
            isa = "AVX-512 BF16" if "avx512_bf16" in self.flags else "AMX-BF16"
        elif "avx512f" in self.flags:
            isa = "AVX-512, no BF16"
        elif "avx2" in self.flags:
            isa = "AVX2, no AVX-512"
        else:
            isa = "no AVX2"
        return f"{self.name} (CPU, {isa})"

    @property
    def key(self) -> str:
        """The kind of machine figures are recorded under, one per speed class:
        `cpu-avx512-bf16`, `cpu-amx-bf16`, `cpu-avx512`, `cpu-avx2`, `cpu`, or
        `gpu-` and the GPU's name (`gpu-nvidia-h200`).

        Examples:

            >>> Device("cpu", "AMD EPYC", flags=("avx2", "fma")).key
            'cpu-avx2'
        """
        if self.kind == "gpu":
            return "gpu-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        flags = self.flags or ()
        for flag, key in (("avx512_bf16", "cpu-avx512-bf16"), ("amx_bf16", "cpu-amx-bf16"),
                          ("avx512f", "cpu-avx512"), ("avx2", "cpu-avx2")):
            if flag in flags:
                return key
        return "cpu"

    def to_json(self) -> dict:
        return {
            "kind": self.kind, "name": self.name, "key": self.key, "description": self.describe(),
            "flags": None if self.flags is None else list(self.flags),
            "compute_capability": None if self.compute_capability is None else list(self.compute_capability),
        }


def _cpu_info(path: str = "/proc/cpuinfo") -> tuple[str, tuple | None]:
    """The CPU model name and its reported flags (None where unreadable)."""
    name, flags = platform.processor() or platform.machine() or "unknown CPU", None
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    name = value.strip()
                elif key == "flags":
                    present = set(value.split())
                    flags = tuple(f for f in REPORTED_CPU_FLAGS if f in present)
                if key == "" and flags is not None:  # the end of the first processor's block
                    break
    except OSError:
        pass
    return name, flags


def _gpu() -> Device | None:
    """The first GPU of the Keras backend, or None."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                return None
            details = tf.config.experimental.get_device_details(gpus[0])
            return Device("gpu", details.get("device_name", "GPU"),
                          compute_capability=details.get("compute_capability"))
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if not gpus:
                return None
            cc = getattr(gpus[0], "compute_capability", None)
            return Device("gpu", gpus[0].device_kind,
                          compute_capability=tuple(int(p) for p in str(cc).split(".")[:2]) if cc else None)
        if backend == "torch":
            import torch

            if not torch.cuda.is_available():
                return None
            return Device("gpu", torch.cuda.get_device_name(0),
                          compute_capability=tuple(torch.cuda.get_device_capability(0)))
    except (RuntimeError, ValueError, AttributeError):  # a backend without a usable GPU
        return None
    return None


def current_device() -> Device:
    """The device this process computes on: the first GPU if any, else the CPU.

    Examples:

        >>> current_device().kind in ("cpu", "gpu")
        True
    """
    gpu = _gpu()
    if gpu is not None:
        return gpu
    name, flags = _cpu_info()
    return Device("cpu", name, flags=flags)


@dataclasses.dataclass(frozen=True)
class Precision:
    """A chosen precision.

    Attributes:
        name: `"float32"`, `"bfloat16"` or `"float16"` (the compute dtype).
        policy: The Keras dtype policy that computes in it.
        reason: Why, in words.
        device: The `Device` it was chosen for.
    """

    name: str
    policy: str
    reason: str
    device: Device


def choose_precision(precision: str = "auto", device: Device | None = None) -> Precision:
    """Resolves `"auto"` (or checks an explicit precision) for a device.

    Args:
        precision: `"auto"`, `"float32"`, `"bfloat16"` or `"float16"`.
            Defaults to `"auto"`.
        device: Defaults to `current_device()`.

    Returns:
        A `Precision`.

    Raises:
        ValueError: For an unknown precision.

    Examples:

        >>> zen3 = Device("cpu", "AMD EPYC", flags=("avx2", "fma"))
        >>> choose_precision("auto", zen3).name
        'float32'
        >>> zen4 = Device("cpu", "AMD EPYC", flags=("avx2", "fma", "avx512f", "avx512_bf16"))
        >>> choose_precision("auto", zen4).policy
        'mixed_bfloat16'
    """
    check_choice("precision", precision, PRECISIONS)
    device = current_device() if device is None else device
    if precision != "auto":
        return Precision(precision, POLICIES[precision], "asked for with --precision", device)
    if device.kind == "gpu":
        cc = device.compute_capability
        if cc is not None and tuple(cc) >= (8, 0):
            name, why = "bfloat16", f"the GPU computes bfloat16 natively (compute capability {cc[0]}.{cc[1]})"
        elif cc is not None and tuple(cc) >= (7, 0):
            name, why = "float16", (f"the GPU has float16 tensor cores but no bfloat16 (compute capability "
                                    f"{cc[0]}.{cc[1]}); the loss is scaled")
        else:
            name, why = "float32", "the GPU has no fast 16-bit compute (or reports no compute capability)"
    elif device.flags is None:
        name, why = "float32", "the CPU's instruction sets could not be read"
    elif any(f in device.flags for f in BF16_CPU_FLAGS):
        found = next(f for f in BF16_CPU_FLAGS if f in device.flags)
        name, why = "bfloat16", f"the CPU has native bfloat16 instructions, {found}"
    else:
        name, why = "float32", "the CPU has no native bfloat16 instructions, neither avx512_bf16 nor amx_bf16"
    return Precision(name, POLICIES[name], why, device)

