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
  float32. Where oneDNN, which computes the convolutions of TensorFlow and
  PyTorch on x86, is held below the CPU's instruction sets
  (`ONEDNN_MAX_CPU_ISA=AVX2`, say), only what it may use counts: the run
  computes as that lesser CPU would.

Native 16-bit compute is no promise of speed for every model: on a Zen 4,
MobileNetV2 and ResNet-50 train faster in float32 than in bfloat16 (oneDNN's
bfloat16 depthwise and 1x1 paths lose to its float32 ones), while the VGGs
gain 1.5x. So where a 16-bit precision is a candidate and the caller says how
to time the model (`measure`), `auto` times a few training steps in each
candidate and keeps bfloat16 (or float16) only if it beats float32 by
`PROBE_MARGIN`; float32, the more exact, wins ties. The rates are cached per
machine, software and model configuration in `probe_cache_path()`, so a
model is timed once per machine. `ZOO_PRECISION_PROBE=0` turns the probe off
(the instruction-set rule alone decides); `ZOO_PRECISION_PROBE=refresh`
times it again and replaces the cached rates (a probe timed while the
machine was busy, say). Where float32 is the only
candidate, as on an AVX2-only CPU, nothing is timed.

Weights stay float32 in every case (Keras' mixed policies); only the
compute dtype changes. The choice comes with the reason and the device, for
the run's first lines and its `summary.json`.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import math
import os
import platform
import re
import warnings
from collections.abc import Callable
from pathlib import Path

from zoo._common import CACHE_ENV, cache_dir, check_choice

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# Keras dtype policy of each precision: float32 weights, this compute dtype.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# The CPU speed classes figures are recorded under, fastest first (the first
# whose flag the CPU reports names it): flag, `Device.key`, the phrase in
# `Device.describe`. A CPU with AMX (Intel Sapphire Rapids on) reports
# avx512_bf16 too, and oneDNN runs its bfloat16 convolutions on the AMX tiles.
CPU_CLASSES = (
    ("amx_bf16", "cpu-amx-bf16", "AMX-BF16"),
    ("avx512_bf16", "cpu-avx512-bf16", "AVX-512 BF16"),
    ("avx512f", "cpu-avx512", "AVX-512, no BF16"),
    ("avx2", "cpu-avx2", "AVX2, no AVX-512"),
)
# CPU flags (as /proc/cpuinfo names them) that say bfloat16 runs natively,
# the faster first: the classes' flags that name bfloat16.
BF16_CPU_FLAGS = tuple(flag for flag, _, _ in CPU_CLASSES if flag.endswith("_bf16"))
# Flags worth reporting beside a figure: what decides CPU speed here.
REPORTED_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
# oneDNN's instruction-set cap (its "CPU dispatcher control"), read by the
# TensorFlow and PyTorch builds for x86; the older name second.
ISA_CAP_ENVS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
# The values it takes, least first (an alias shares its rank), and the
# least of them each reported flag needs.
ONEDNN_ISAS = {
    "SSE41": 1, "AVX": 2, "AVX2": 3, "AVX2_VNNI": 4, "AVX2_VNNI_2": 5, "AVX512_CORE": 6, "AVX512_CORE_VNNI": 7,
    "AVX512_CORE_BF16": 8, "AVX10_1_512": 9, "AVX512_CORE_FP16": 9, "AVX10_1_512_AMX": 10, "AVX512_CORE_AMX": 10,
    "AVX10_1_512_AMX_FP16": 11, "AVX512_CORE_AMX_FP16": 11,
}
# CPU generations by vendor, family and model (as /proc/cpuinfo gives them),
# after the model ranges of Linux's arch/x86/kernel/cpu/amd.c and the models
# arch/x86/include/asm/intel-family.h names. Flags alone cannot tell a Zen 5
# from a Zen 4 (both AVX-512 BF16), yet one trains mnist_convnet 1.7x faster
# than the other, and virtual machines often report only "AMD EPYC" as the
# model name.
CPU_GENERATIONS = {
    ("AuthenticAMD", 23): (((0x00, 0x2F), "Zen"), ((0x50, 0x5F), "Zen"), ((0x30, 0x4F), "Zen 2"),
                           ((0x60, 0x7F), "Zen 2"), ((0x90, 0x91), "Zen 2"), ((0xA0, 0xAF), "Zen 2")),
    ("AuthenticAMD", 25): (((0x00, 0x0F), "Zen 3"), ((0x20, 0x5F), "Zen 3"), ((0x10, 0x1F), "Zen 4"),
                           ((0x60, 0xAF), "Zen 4")),
    ("AuthenticAMD", 26): (((0x00, 0x2F), "Zen 5"), ((0x40, 0x4F), "Zen 5"), ((0x60, 0x7F), "Zen 5")),
    ("GenuineIntel", 6): tuple(((m, m), name) for name, models in (
        ("Skylake", (0x4E, 0x5E)), ("Kaby Lake to Comet Lake", (0x8E, 0x9E, 0xA5, 0xA6)),
        ("Ice Lake", (0x7D, 0x7E)), ("Tiger Lake", (0x8C, 0x8D)), ("Alder Lake", (0x97, 0x9A)),
        ("Raptor Lake", (0xB7, 0xBA, 0xBF)), ("Meteor Lake", (0xAA, 0xAC)), ("Lunar Lake", (0xBD,)),
        ("Arrow Lake", (0xB5, 0xC5, 0xC6)), ("Skylake-SP to Cooper Lake", (0x55,)), ("Ice Lake-SP", (0x6A,)),
        ("Sapphire Rapids", (0x8F,)), ("Emerald Rapids", (0xCF,)), ("Granite Rapids", (0xAD,)),
        ("Sierra Forest", (0xAF,))) for m in models),
}
FLAG_ISAS = {"avx2": "AVX2", "fma": "AVX2", "avx512f": "AVX512_CORE", "avx512_vnni": "AVX512_CORE_VNNI",
             "avx512_bf16": "AVX512_CORE_BF16", "amx_bf16": "AVX512_CORE_AMX", "amx_tile": "AVX512_CORE_AMX"}
# A 16-bit precision must train this much faster than float32 to be chosen
# by the timed probe: float32 is the more exact of the two.
PROBE_MARGIN = 1.05
# `ZOO_PRECISION_PROBE=0` leaves `auto` to the instruction-set rule alone.
PROBE_ENV = "ZOO_PRECISION_PROBE"
PROBE_CACHE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Device:
    """The device a run computes on.

    Attributes:
        kind: `"cpu"` or `"gpu"`.
        name: The CPU model name or the GPU name.
        flags: For a CPU, which of `REPORTED_CPU_FLAGS` it has (None where
            they cannot be read); for a GPU, None.
        compute_capability: For an NVIDIA GPU, `(major, minor)`; else None.
        isa_cap: For a CPU whose oneDNN is held below some of its `flags`
            (`ONEDNN_MAX_CPU_ISA`), the cap, e.g. `"AVX2"`; else None.
        cpu_id: For an x86 CPU, `(vendor_id, family, model)` as
            /proc/cpuinfo gives them, e.g. `("AuthenticAMD", 26, 2)`; None
            where unreadable.
    """

    kind: str
    name: str
    flags: tuple | None = None
    compute_capability: tuple | None = None
    isa_cap: str | None = None
    cpu_id: tuple | None = None

    @property
    def generation(self) -> str | None:
        """The CPU's generation (`CPU_GENERATIONS`), e.g. `"Zen 5"`; None
        where unknown.

        Examples:

            >>> Device("cpu", "AMD EPYC", cpu_id=("AuthenticAMD", 25, 1)).generation
            'Zen 3'
        """
        if self.cpu_id is None:
            return None
        vendor, family, model = self.cpu_id
        ranges = CPU_GENERATIONS.get((vendor, family), ())
        return next((name for (low, high), name in ranges if low <= model <= high), None)

    def _cpu_id_phrase(self) -> str:
        """The generation, or the family and model where it is unknown; "" if neither."""
        if self.cpu_id is None:
            return ""
        return self.generation or f"family {self.cpu_id[1]}, model {self.cpu_id[2]}"

    @property
    def usable_flags(self) -> tuple | None:
        """The `flags` oneDNN may use: all of them, less those above `isa_cap`.

        Examples:

            >>> Device("cpu", "AMD EPYC", flags=("avx2", "avx512f", "avx512_bf16"), isa_cap="AVX2").usable_flags
            ('avx2',)
        """
        if self.flags is None or self.isa_cap is None:
            return self.flags
        cap = ONEDNN_ISAS[self.isa_cap]
        return tuple(f for f in self.flags if ONEDNN_ISAS[FLAG_ISAS[f]] <= cap)

    @property
    def bfloat16_held_back(self) -> bool:
        """True where the CPU has bfloat16 instructions that oneDNN is held
        below (`isa_cap`): TensorFlow's bfloat16 kernels then fail, its
        matmul by aborting the process (a 2-core Zen 5 held to AVX2).

        Examples:

            >>> Device("cpu", "AMD EPYC", flags=("avx2", "avx512f", "avx512_bf16"), isa_cap="AVX2").bfloat16_held_back
            True
            >>> Device("cpu", "AMD EPYC", flags=("avx2", "fma")).bfloat16_held_back  # emulated, slowly, but it runs
            False
        """
        has = [f for f in BF16_CPU_FLAGS if f in (self.flags or ())]
        return bool(has) and not any(f in (self.usable_flags or ()) for f in has)

    def describe(self) -> str:
        """One phrase for run logs and figures, e.g. `AMD EPYC (Zen 5; CPU, AVX-512 BF16)`."""
        if self.kind == "gpu":
            cc = f", compute capability {self.compute_capability[0]}.{self.compute_capability[1]}" \
                if self.compute_capability else ""
            return f"{self.name} (GPU{cc})"
        generation = self._cpu_id_phrase()
        generation = f"{generation}; " if generation else ""
        if self.flags is None:
            return f"{self.name} ({generation}CPU, instruction sets unknown)"
        if self.isa_cap is not None:
            return (f"{self.name} ({generation}CPU, {self._cpu_class(self.flags)[1]}; oneDNN held to "
                    f"{self._cpu_class()[1]} by {self.isa_cap_env()}={self.isa_cap})")
        return f"{self.name} ({generation}CPU, {self._cpu_class()[1]})"

    def _cpu_class(self, flags: tuple | None = None) -> tuple[str, str]:
        """The speed class (`CPU_CLASSES`) of `flags`, by default the usable
        ones: its key and phrase."""
        flags = self.usable_flags if flags is None else flags
        return next(((key, isa) for flag, key, isa in CPU_CLASSES if flag in (flags or ())),
                    ("cpu", "no AVX2"))

    @staticmethod
    def isa_cap_env() -> str:
        """The variable the cap is read from (`ISA_CAP_ENVS`): the first set."""
        return next((name for name in ISA_CAP_ENVS if os.environ.get(name)), ISA_CAP_ENVS[0])

    @property
    def key(self) -> str:
        """The kind of machine figures are recorded under: a CPU by its speed
        class, `cpu-amx-bf16` (Intel Sapphire Rapids on), `cpu-avx512-bf16`
        (AMD Zen 4 and 5, Intel Cooper Lake), `cpu-avx512`, `cpu-avx2` or
        `cpu`, then its generation where `cpu_id` is known (`-zen-5`; else
        the vendor, family and model, `-amd-26-2`); a GPU by `gpu-` and its
        name (`gpu-nvidia-h200`). A CPU with AMX reports avx512_bf16 as
        well; its key is the AMX one, so its figures are recorded beside a
        Zen 4's, not over them; a Zen 5's beside a Zen 4's likewise. A CPU
        whose oneDNN is held below its instruction sets is keyed by both
        (`cpu-avx512-bf16-zen-4-onednn-avx2`): it is neither its own class
        nor truly the lesser one. Figures recorded before the generation was
        read are keyed by the class alone.

        Examples:

            >>> Device("cpu", "AMD EPYC", flags=("avx2", "fma"), cpu_id=("AuthenticAMD", 25, 1)).key
            'cpu-avx2-zen-3'
        """
        if self.kind == "gpu":
            return "gpu-" + _slug(self.name)
        cpu = self._cpu_class(self.flags if self.isa_cap is not None else None)[0]
        if self.cpu_id is not None:
            vendor, family, model = self.cpu_id
            vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(vendor, vendor)
            cpu += "-" + _slug(self.generation or f"{vendor}-{family}-{model}")
        if self.isa_cap is not None:
            return f"{cpu}-onednn-{self.isa_cap.lower().replace('_', '-')}"
        return cpu

    def to_json(self) -> dict:
        return {
            "kind": self.kind, "name": self.name, "key": self.key, "description": self.describe(),
            "flags": None if self.flags is None else list(self.flags),
            "compute_capability": None if self.compute_capability is None else list(self.compute_capability),
            "isa_cap": self.isa_cap, "cpu_id": None if self.cpu_id is None else list(self.cpu_id),
            "generation": self.generation,
        }


def _slug(text: str) -> str:
    """Lower case, runs of other characters as one dash: `"Zen 5"` to `"zen-5"`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _cpu_info(path: str = "/proc/cpuinfo") -> tuple[str, tuple | None, tuple | None]:
    """The CPU model name, its reported flags and its `(vendor_id, family,
    model)` (`Device.cpu_id`); the last two None where unreadable."""
    name, flags = platform.processor() or platform.machine() or "unknown CPU", None
    ids = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    name = value.strip()
                elif key in ("vendor_id", "cpu family", "model"):
                    ids[key] = value.strip()
                elif key == "flags":
                    present = set(value.split())
                    flags = tuple(f for f in REPORTED_CPU_FLAGS if f in present)
                if key == "" and flags is not None:  # the end of the first processor's block
                    break
    except OSError:
        pass
    try:
        cpu_id = (ids["vendor_id"], int(ids["cpu family"]), int(ids["model"]))
    except (KeyError, ValueError):  # not x86, or not Linux
        cpu_id = None
    return name, flags, cpu_id


def _isa_cap(flags: tuple | None) -> str | None:
    """oneDNN's instruction-set cap where the Keras backend computes with
    oneDNN (TensorFlow, PyTorch) and the cap hides some of `flags`; else None.

    Raises:
        ValueError: For a cap oneDNN does not know.
    """
    import keras

    env = Device.isa_cap_env()
    value = os.environ.get(env, "").strip().upper()
    uses_onednn = keras.backend.backend() in ("tensorflow", "torch")
    if not value or value in ("DEFAULT", "ALL") or flags is None or not uses_onednn:
        return None
    if value not in ONEDNN_ISAS:
        raise ValueError(f"{env} names no instruction set oneDNN knows; expected one of "
                         f"{', '.join(ONEDNN_ISAS)}, DEFAULT or ALL. Received: {env}={os.environ[env]!r}")
    device = Device("cpu", "", flags=flags, isa_cap=value)
    return value if device.usable_flags != flags else None


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
    name, flags, cpu_id = _cpu_info()
    return Device("cpu", name, flags=flags, isa_cap=_isa_cap(flags), cpu_id=cpu_id)


@dataclasses.dataclass(frozen=True)
class Precision:
    """A chosen precision.

    Attributes:
        name: `"float32"`, `"bfloat16"` or `"float16"` (the compute dtype).
        policy: The Keras dtype policy that computes in it.
        reason: Why, in words.
        device: The `Device` it was chosen for.
        probe: Where `auto` timed the model: `{"rates": {precision:
            images/s}, "measured": date, "cached": bool}`; else None.
    """

    name: str
    policy: str
    reason: str
    device: Device
    probe: dict | None = None


def _native_choice(device: Device) -> tuple[str, str]:
    """The precision the device computes fastest by its kind, and why."""
    if device.kind == "gpu":
        cc = device.compute_capability
        if cc is not None and tuple(cc) >= (8, 0):
            return "bfloat16", f"the GPU computes bfloat16 natively (compute capability {cc[0]}.{cc[1]})"
        if cc is not None and tuple(cc) >= (7, 0):
            return "float16", (f"the GPU has float16 tensor cores but no bfloat16 (compute capability "
                               f"{cc[0]}.{cc[1]}); the loss is scaled")
        return "float32", "the GPU has no fast 16-bit compute (or reports no compute capability)"
    if device.flags is None:
        return "float32", "the CPU's instruction sets could not be read"
    found = next((f for f in BF16_CPU_FLAGS if f in device.usable_flags), None)
    if found is not None:
        return "bfloat16", f"the CPU has native bfloat16 instructions, {found}"
    if device.bfloat16_held_back:
        return "float32", (f"oneDNN may not use the CPU's bfloat16 instructions "
                           f"({device.isa_cap_env()}={device.isa_cap})")
    return "float32", "the CPU has no native bfloat16 instructions, neither avx512_bf16 nor amx_bf16"


def candidates(device: Device) -> tuple[str, ...]:
    """The precisions worth timing on `device`: its native 16-bit one, if
    any, and float32.

    Examples:

        >>> candidates(Device("cpu", "AMD EPYC", flags=("avx2", "fma")))
        ('float32',)
        >>> candidates(Device("gpu", "NVIDIA H200", compute_capability=(9, 0)))
        ('bfloat16', 'float32')
    """
    native, _ = _native_choice(device)
    return (native, "float32") if native != "float32" else ("float32",)


# The values `ZOO_PRECISION_PROBE` takes (any case; unset or empty is on).
PROBE_OFF = ("0", "false", "no", "off")
PROBE_ON = ("", "1", "true", "yes", "on")
PROBE_REFRESH = "refresh"


def _probe_setting() -> str:
    """`ZOO_PRECISION_PROBE`, checked: `"on"`, `"off"` or `"refresh"`.

    Raises:
        ValueError: For another value: a typo of `refresh` must not time
            nothing and keep the cached rates unnoticed.
    """
    raw = os.environ.get(PROBE_ENV, "")
    value = raw.strip().lower()
    if value in PROBE_OFF:
        return "off"
    if value in PROBE_ON:
        return "on"
    if value == PROBE_REFRESH:
        return PROBE_REFRESH
    raise ValueError(f"{PROBE_ENV} must be 1 (or true, yes, on), 0 (or false, no, off) or refresh. "
                     f"Received: {PROBE_ENV}={raw!r}")


def probe_enabled() -> bool:
    """False where `ZOO_PRECISION_PROBE` is `0` (or `false`, `no`, `off`).

    Raises:
        ValueError: For a value it does not take.
    """
    return _probe_setting() != "off"


def probe_refresh() -> bool:
    """True where `ZOO_PRECISION_PROBE` is `refresh`: the probe times again
    and replaces the cached rates."""
    return _probe_setting() == PROBE_REFRESH


def probe_cache_path() -> Path:
    """The JSON file caching the probe's rates: `$ZOO_CACHE_DIR/precision.json`,
    by default under `$XDG_CACHE_HOME/keras-zoo` (`~/.cache/keras-zoo`)."""
    return Path(cache_dir()) / "precision.json"


def _software() -> dict:
    """The versions a measured rate depends on."""
    import keras

    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jaxlib", "torch": "torch"}.get(backend)
    try:
        backend_version = importlib.metadata.version(module) if module else None
    except importlib.metadata.PackageNotFoundError:  # a source build without metadata
        backend_version = None
    return {"backend": backend, "backend_version": backend_version, "keras": keras.__version__}


def _read_cache(path: Path, *, quiet: bool = False) -> dict:
    """The cached probes, `{key: entry}`; an unreadable file counts as empty
    (with a warning unless `quiet`)."""
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as e:
        if not quiet:
            warnings.warn(f"Cannot read the precision probe cache {str(path)!r} ({e}); timing again.", stacklevel=3)
        return {}
    try:
        cache = json.loads(text)
        if cache.get("format") != PROBE_CACHE_FORMAT or not isinstance(cache.get("probes"), dict):
            raise ValueError("not a probe cache of this version")
        return cache["probes"]
    except (ValueError, AttributeError) as e:
        if not quiet:
            warnings.warn(f"Ignoring the precision probe cache {str(path)!r}, which is unreadable ({e}); "
                          "it is rewritten after this probe.", stacklevel=3)
        return {}


def _write_cache(path: Path, key: str, entry: dict) -> None:
    """Adds `entry` to the cache through a temporary file renamed into place;
    warns where the cache cannot be written."""
    probes = _read_cache(path, quiet=True)  # read again: another run may have added to it
    probes[key] = entry
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"format": PROBE_CACHE_FORMAT, "probes": probes}, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as e:
        try:  # a cache that is a folder, say: nothing is left beside it
            tmp.unlink()
        except OSError:  # never written
            pass
        warnings.warn(f"Cannot cache the precision probe in {str(path)!r} ({e}); set {CACHE_ENV} to a "
                      "writable folder to time each model once.", stacklevel=3)


def _cached_rates(entry, options) -> dict | None:
    """A cache entry's rates where they are what `_probe` writes (a finite
    rate >= 0 per option, float32's above 0); else None."""
    rates = entry.get("rates") if isinstance(entry, dict) else None
    if not isinstance(rates, dict) or set(rates) != set(options):
        return None
    if not all(isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r >= 0
               for r in rates.values()) or not rates["float32"] > 0:
        return None
    return {name: float(rate) for name, rate in rates.items()}


def _probe(measure, options, config: dict, device: Device, progress) -> tuple[dict, str, bool]:
    """The rates of `options` for `config` on `device`: `(rates, date, cached)`."""
    path = probe_cache_path()
    key = {**config, **_software(), "device": device.key, "device_name": device.name,
           "precisions": sorted(options)}
    text = json.dumps(key, sort_keys=True, default=str)
    entry = None if probe_refresh() else _read_cache(path).get(text)
    cached = None if entry is None else _cached_rates(entry, options)
    if cached is not None:
        return cached, str(entry.get("measured", "?")), True
    if entry is not None:
        warnings.warn(f"Ignoring the precision probe cache's entry for {config.get('model', 'this model')} in "
                      f"{str(path)!r}, which is unreadable; timing again.", stacklevel=3)
    if progress is not None:
        progress(f"timing a few training steps in {' and '.join(options)} to choose the precision "
                 f"(once for this model and machine; cached in {str(path)!r})")
    rates = {name: float(rate) for name, rate in measure(list(options)).items()}
    # A 16-bit rate of 0 says the model failed to train in it (see `measure`).
    if set(rates) != set(options) or not rates.get("float32", 0) > 0 or not all(r >= 0 for r in rates.values()):
        raise RuntimeError(f"The precision probe returned no rate for each of {list(options)}. Received: {rates}")
    measured = datetime.date.today().isoformat()
    _write_cache(path, text, {"rates": rates, "measured": measured, "key": key})
    return rates, measured, False


def choose_precision(precision: str = "auto", device: Device | None = None, *,
                     measure: Callable[[list], dict] | None = None, config: dict | None = None,
                     progress: Callable[[str], None] | None = None) -> Precision:
    """Resolves `"auto"` (or checks an explicit precision) for a device.

    Args:
        precision: `"auto"`, `"float32"`, `"bfloat16"` or `"float16"`.
            Defaults to `"auto"`.
        device: Defaults to `current_device()`.
        measure: How to time the model `auto` chooses for:
            `measure(["bfloat16", "float32"])` returns training images per
            second in each (`zoo.bench.precision_probe` makes one); 0 for
            a 16-bit precision the model failed to train in, which then
            leaves float32. Without
            it, or with `ZOO_PRECISION_PROBE=0`, the device's kind decides.
        config: What the rates depend on besides the device and the
            software (model, input shape, batch size...), as JSON values:
            the probe's cache key. Required with `measure`.
        progress: Called with a line before the model is timed.

    Returns:
        A `Precision`.

    Raises:
        ValueError: For an unknown precision, bfloat16 where oneDNN is
            held below the CPU's bfloat16 instructions, or a
            `ZOO_PRECISION_PROBE` value it does not take.

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
    if precision == "bfloat16" and device.bfloat16_held_back:
        raise ValueError(
            f"bfloat16 cannot run here: {device.isa_cap_env()}={device.isa_cap} holds oneDNN below the CPU's "
            f"bfloat16 instructions, and TensorFlow's bfloat16 kernels fail there. Unset it, or use --precision "
            f"float32 or auto. Received: precision={precision!r}"
        )
    if precision != "auto":
        return Precision(precision, POLICIES[precision], "asked for with --precision", device)
    _probe_setting()  # a bad value fails on any machine, not only where the probe would run
    name, why = _native_choice(device)
    options = candidates(device)
    if measure is None or len(options) == 1:
        return Precision(name, POLICIES[name], why, device)
    if not probe_enabled():
        return Precision(name, POLICIES[name], f"{why} (the timed probe is off: {PROBE_ENV}="
                         f"{os.environ.get(PROBE_ENV, '').strip()})", device)
    if config is None:
        raise ValueError("choose_precision needs `config` (the probe's cache key) with `measure`. Received: None")
    rates, measured, cached = _probe(measure, options, config, device, progress)
    half = options[0]
    ratio = rates[half] / rates["float32"]
    chosen = half if ratio >= PROBE_MARGIN else "float32"
    what = config.get("model", "this model")
    probe = {"rates": {k: round(v, 1) for k, v in rates.items()}, "measured": measured, "cached": cached}
    if rates[half] == 0:
        why = (f"{why}, but {what} failed to train in it here (the probe on {measured}"
               f"{', cached' if cached else ''}; {PROBE_ENV}=refresh tries again)")
        return Precision("float32", POLICIES["float32"], why, device, probe=probe)
    timed = (f"{rates[half]:,.0f} images/s in {half}, {rates['float32']:,.0f} in float32 "
             f"({ratio:.2f}x; timed on {measured}{', cached' if cached else ''})")
    if chosen == half:
        why = f"{why}, and {what} trains faster in it here: {timed}"
    else:
        why = (f"{why}, but {what} trains no faster in it here (at least {PROBE_MARGIN:.2f}x float32 "
               f"is asked): {timed}")
    return Precision(chosen, POLICIES[chosen], why, device, probe=probe)
