"""`zoo.precision`: the precision chosen for each kind of device, and why."""

import dataclasses
import json

import keras
import pytest

from zoo import precision
from zoo.precision import Device, choose_precision

ZEN3 = Device("cpu", "AMD EPYC 7B13", flags=("avx2", "fma"))
ZEN4 = Device("cpu", "AMD EPYC 9B14", flags=("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"))
# As a Sapphire Rapids' /proc/cpuinfo has them: AMX and AVX512_BF16 both.
SAPPHIRE_RAPIDS = Device("cpu", "Intel Xeon", flags=("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
                                                     "amx_bf16", "amx_tile"))
SKYLAKE = Device("cpu", "Intel Xeon", flags=("avx2", "fma", "avx512f"))
# A Zen 4 whose oneDNN is held to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2).
ZEN4_AS_AVX2 = Device("cpu", "AMD EPYC 9B14", flags=ZEN4.flags, isa_cap="AVX2")


@pytest.mark.parametrize(
    "device,name,policy,why",
    [
        (ZEN3, "float32", "float32", "no native bfloat16"),
        (SKYLAKE, "float32", "float32", "no native bfloat16"),
        (ZEN4, "bfloat16", "mixed_bfloat16", "avx512_bf16"),
        (SAPPHIRE_RAPIDS, "bfloat16", "mixed_bfloat16", "amx_bf16"),
        (ZEN4_AS_AVX2, "float32", "float32", "may not use the CPU's bfloat16 instructions (ONEDNN_MAX_CPU_ISA=AVX2)"),
        (dataclasses.replace(SAPPHIRE_RAPIDS, isa_cap="AVX512_CORE_BF16"), "bfloat16", "mixed_bfloat16",
         "avx512_bf16"),
        (Device("cpu", "unknown"), "float32", "float32", "could not be read"),
        (Device("gpu", "NVIDIA H200", compute_capability=(9, 0)), "bfloat16", "mixed_bfloat16", "9.0"),
        (Device("gpu", "NVIDIA A100", compute_capability=(8, 0)), "bfloat16", "mixed_bfloat16", "8.0"),
        (Device("gpu", "Tesla T4", compute_capability=(7, 5)), "float16", "mixed_float16", "loss is scaled"),
        (Device("gpu", "Tesla P100", compute_capability=(6, 0)), "float32", "float32", "no fast 16-bit"),
    ],
)
def test_auto(device, name, policy, why):
    chosen = choose_precision("auto", device)
    assert (chosen.name, chosen.policy) == (name, policy) and why in chosen.reason
    assert chosen.device is device


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16"])
def test_asked_for_is_kept_on_any_device(name):
    chosen = choose_precision(name, ZEN3)
    assert chosen.name == name and chosen.policy == precision.POLICIES[name] and "--precision" in chosen.reason


def test_unknown_precision():
    with pytest.raises(ValueError, match=r"Received: precision='int4'"):
        choose_precision("int4", ZEN3)


def test_descriptions_name_the_instruction_sets():
    assert ZEN3.describe() == "AMD EPYC 7B13 (CPU, AVX2, no AVX-512)"
    assert ZEN4.describe() == "AMD EPYC 9B14 (CPU, AVX-512 BF16)"
    assert SKYLAKE.describe() == "Intel Xeon (CPU, AVX-512, no BF16)"
    assert Device("gpu", "NVIDIA H200", compute_capability=(9, 0)).describe() == \
        "NVIDIA H200 (GPU, compute capability 9.0)"
    assert SAPPHIRE_RAPIDS.describe() == "Intel Xeon (CPU, AMX-BF16)"
    assert ZEN4_AS_AVX2.describe() == \
        "AMD EPYC 9B14 (CPU, AVX-512 BF16; oneDNN held to AVX2, no AVX-512 by ONEDNN_MAX_CPU_ISA=AVX2)"
    assert ZEN4.to_json()["flags"] == list(ZEN4.flags)


@pytest.mark.parametrize(
    "device,key",
    [(ZEN3, "cpu-avx2"), (SKYLAKE, "cpu-avx512"), (ZEN4, "cpu-avx512-bf16"), (SAPPHIRE_RAPIDS, "cpu-amx-bf16"),
     (Device("cpu", "unknown"), "cpu"), (Device("gpu", "NVIDIA H200", compute_capability=(9, 0)), "gpu-nvidia-h200"),
     (ZEN4_AS_AVX2, "cpu-avx512-bf16-onednn-avx2")],
)
def test_each_speed_class_has_its_own_key(device, key):
    # An AMX CPU reports avx512_bf16 too; keyed as a Zen 4 its figures would
    # overwrite the Zen 4's in zoo/results.json. A Zen 4 held to AVX2 is no
    # Zen 3 either.
    assert device.key == key


@pytest.mark.parametrize(
    "cpu_id,generation,key,description",
    [
        (("AuthenticAMD", 25, 1), "Zen 3", "cpu-avx512-bf16-zen-3", "AMD EPYC 9B14 (Zen 3; CPU, AVX-512 BF16)"),
        (("AuthenticAMD", 25, 17), "Zen 4", "cpu-avx512-bf16-zen-4", "AMD EPYC 9B14 (Zen 4; CPU, AVX-512 BF16)"),
        (("AuthenticAMD", 26, 2), "Zen 5", "cpu-avx512-bf16-zen-5", "AMD EPYC 9B14 (Zen 5; CPU, AVX-512 BF16)"),
        (("GenuineIntel", 6, 143), "Sapphire Rapids", "cpu-avx512-bf16-sapphire-rapids",
         "AMD EPYC 9B14 (Sapphire Rapids; CPU, AVX-512 BF16)"),
        (("GenuineIntel", 6, 0x9A), "Alder Lake", "cpu-avx512-bf16-alder-lake",
         "AMD EPYC 9B14 (Alder Lake; CPU, AVX-512 BF16)"),
        (("AuthenticAMD", 27, 0), None, "cpu-avx512-bf16-amd-27-0",
         "AMD EPYC 9B14 (family 27, model 0; CPU, AVX-512 BF16)"),
        (("HygonGenuine", 24, 2), None, "cpu-avx512-bf16-hygongenuine-24-2",
         "AMD EPYC 9B14 (family 24, model 2; CPU, AVX-512 BF16)"),
    ],
)
def test_the_cpu_generation_keys_its_figures(cpu_id, generation, key, description):
    # A Zen 5 and a Zen 4 have the same instruction-set class, and under a
    # hypervisor often the same model name ("AMD EPYC"), yet a Zen 5 trains
    # mnist_convnet 1.7x faster: its figures go beside a Zen 4's.
    device = dataclasses.replace(ZEN4, cpu_id=cpu_id)
    assert (device.generation, device.key, device.describe()) == (generation, key, description)
    assert device.to_json()["cpu_id"] == list(cpu_id) and device.to_json()["generation"] == generation
    capped = dataclasses.replace(device, isa_cap="AVX2")
    assert capped.key == key + "-onednn-avx2"
    assert capped.describe().startswith(description[:-1] + "; oneDNN held to AVX2")


@pytest.mark.parametrize(
    "env,value,cap",
    [
        ("ONEDNN_MAX_CPU_ISA", "avx2", "AVX2"),
        ("DNNL_MAX_CPU_ISA", "AVX512_CORE", "AVX512_CORE"),  # oneDNN's older name
        ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16", None),  # hides none of a Zen 4's flags
        ("ONEDNN_MAX_CPU_ISA", "AVX10_1_512_AMX", None),
        ("ONEDNN_MAX_CPU_ISA", "DEFAULT", None),
        ("ONEDNN_MAX_CPU_ISA", "", None),
    ],
)
def test_the_onednn_cap_is_read_from_the_environment(monkeypatch, env, value, cap):
    for name in precision.ISA_CAP_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(env, value)
    expected = cap if keras.backend.backend() in ("tensorflow", "torch") else None  # JAX computes without oneDNN
    assert precision._isa_cap(ZEN4.flags) == expected


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX computes without oneDNN")
def test_an_unknown_onednn_cap_is_refused(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX9000")
    with pytest.raises(ValueError, match=r"Received: ONEDNN_MAX_CPU_ISA='AVX9000'$"):
        precision._isa_cap(ZEN4.flags)


def test_every_reported_flag_has_its_onednn_level():
    assert set(precision.FLAG_ISAS) == set(precision.REPORTED_CPU_FLAGS)
    assert set(precision.FLAG_ISAS.values()) <= set(precision.ONEDNN_ISAS)


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx fma avx2 bmi2

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx fma avx2 bmi2 avx512_bf16
"""


def test_cpu_info_reads_the_first_processor(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert precision._cpu_info(str(path)) == ("AMD EPYC 7B13", ("avx2", "fma"), ("AuthenticAMD", 25, 1))
    name, flags, cpu_id = precision._cpu_info(str(tmp_path / "missing"))
    assert flags is None and cpu_id is None and name
    # An Arm /proc/cpuinfo has no family: flags are kept, the generation is unknown.
    path.write_text("processor\t: 0\nCPU implementer\t: 0x41\nFeatures\t: fp asimd\nflags\t: fp\n\n")
    assert precision._cpu_info(str(path))[2] is None


def test_this_machine():
    device = precision.current_device()
    assert device.kind in ("cpu", "gpu") and device.name
    chosen = choose_precision("auto")
    assert chosen.name in ("float32", "bfloat16", "float16") and chosen.reason


# The timed probe of `auto`: measured rates decide between the device's
# native 16-bit precision and float32, cached per machine and model.

CONFIG = {"model": "mnist_convnet", "input_shape": [28, 28, 1], "classes": 10, "batch_size": 64}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh probe cache, with the probe on (the suite turns it off)."""
    monkeypatch.setenv(precision.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(precision.PROBE_ENV, "1")
    return tmp_path / "cache" / "precision.json"


class Rates:
    """A `measure` that returns fixed rates and counts its calls."""

    def __init__(self, **rates):
        self.rates, self.calls = rates, []

    def __call__(self, options):
        self.calls.append(list(options))
        return {name: self.rates[name] for name in options}


@pytest.mark.parametrize(
    "device,bf16,name",
    [
        (ZEN4, 2000.0, "bfloat16"),  # twice as fast: kept
        (ZEN4, 1030.0, "float32"),  # 1.03x is inside the margin: float32, the more exact, wins
        (ZEN4, 470.0, "float32"),  # MobileNetV2 on a Zen 4: bfloat16 is slower
        (SAPPHIRE_RAPIDS, 1500.0, "bfloat16"),
    ],
)
def test_the_probe_keeps_the_faster(cache, device, bf16, name):
    measure = Rates(bfloat16=bf16, float32=1000.0)
    chosen = choose_precision("auto", device, measure=measure, config=CONFIG)
    assert chosen.name == name and chosen.policy == precision.POLICIES[name]
    assert measure.calls == [["bfloat16", "float32"]]
    assert f"{bf16:,.0f} images/s in bfloat16, 1,000 in float32" in chosen.reason and "mnist_convnet" in chosen.reason
    assert chosen.probe == {"rates": {"bfloat16": bf16, "float32": 1000.0}, "measured": chosen.probe["measured"],
                            "cached": False}


def test_a_gpu_probes_its_float16_against_float32(cache):
    t4 = Device("gpu", "Tesla T4", compute_capability=(7, 5))
    measure = Rates(float16=3000.0, float32=1000.0)
    chosen = choose_precision("auto", t4, measure=measure, config=CONFIG)
    assert measure.calls == [["float16", "float32"]] and chosen.policy == "mixed_float16"


def test_the_rates_are_cached_per_model_and_machine(cache):
    first = choose_precision("auto", ZEN4, measure=Rates(bfloat16=500.0, float32=1000.0), config=CONFIG)
    assert first.name == "float32" and cache.exists()

    def fails(options):
        raise AssertionError("timed again although cached")

    again = choose_precision("auto", ZEN4, measure=fails, config=CONFIG)
    assert again.name == "float32" and again.probe["cached"] and "cached" in again.reason
    # Another model, input shape or machine is timed afresh.
    other = Rates(bfloat16=2000.0, float32=1000.0)
    assert choose_precision("auto", ZEN4, measure=other, config={**CONFIG, "model": "lm_convnet"}).name == "bfloat16"
    assert choose_precision("auto", ZEN4, measure=other, config={**CONFIG, "input_shape": [56, 56, 1]}).name == \
        "bfloat16"
    assert choose_precision("auto", SAPPHIRE_RAPIDS, measure=other, config=CONFIG).name == "bfloat16"
    assert len(other.calls) == 3
    assert len(json.loads(cache.read_text())["probes"]) == 4


def test_refresh_times_again_and_replaces_the_cached_rates(cache, monkeypatch):
    # A probe timed while the machine was busy: bfloat16 looked no faster.
    assert choose_precision("auto", ZEN4, measure=Rates(bfloat16=1000.0, float32=1000.0), config=CONFIG).name == \
        "float32"
    monkeypatch.setenv(precision.PROBE_ENV, "refresh")
    fresh = Rates(bfloat16=1500.0, float32=1000.0)
    chosen = choose_precision("auto", ZEN4, measure=fresh, config=CONFIG)
    assert fresh.calls == [["bfloat16", "float32"]] and chosen.name == "bfloat16" and not chosen.probe["cached"]
    monkeypatch.setenv(precision.PROBE_ENV, "1")
    again = choose_precision("auto", ZEN4, measure=Rates(bfloat16=1.0, float32=1.0), config=CONFIG)
    assert again.name == "bfloat16" and again.probe["cached"]  # the refreshed rates replaced the old ones
    assert len(json.loads(cache.read_text())["probes"]) == 1


@pytest.mark.parametrize("device", [ZEN3, SKYLAKE, ZEN4_AS_AVX2,
                                    Device("gpu", "Tesla P100", compute_capability=(6, 0))])
def test_nothing_is_timed_where_float32_is_the_only_candidate(cache, device):
    measure = Rates(bfloat16=9999.0, float32=1.0)
    chosen = choose_precision("auto", device, measure=measure, config=CONFIG)
    assert chosen.name == "float32" and measure.calls == [] and chosen.probe is None and not cache.exists()


def test_bfloat16_is_refused_where_onednn_is_held_below_it():
    # TensorFlow's bfloat16 kernels fail there (its matmul aborts the process): one line instead.
    with pytest.raises(ValueError, match=r"bfloat16 cannot run here: ONEDNN_MAX_CPU_ISA=AVX2 holds oneDNN below .*"
                                         r"Received: precision='bfloat16'"):
        choose_precision("bfloat16", ZEN4_AS_AVX2)
    assert choose_precision("float32", ZEN4_AS_AVX2).name == "float32"
    # Without the cap, or on a CPU that emulates bfloat16 (slowly), it runs as asked.
    assert choose_precision("bfloat16", ZEN4).name == choose_precision("bfloat16", ZEN3).name == "bfloat16"


def test_an_explicit_precision_is_not_timed(cache):
    measure = Rates(bfloat16=1.0, float32=1000.0)
    assert choose_precision("bfloat16", ZEN4, measure=measure, config=CONFIG).name == "bfloat16"
    assert measure.calls == []


def test_the_probe_can_be_turned_off(cache, monkeypatch):
    monkeypatch.setenv(precision.PROBE_ENV, "0")
    measure = Rates(bfloat16=1.0, float32=1000.0)
    chosen = choose_precision("auto", ZEN4, measure=measure, config=CONFIG)
    assert chosen.name == "bfloat16" and measure.calls == [] and "ZOO_PRECISION_PROBE=0" in chosen.reason


@pytest.mark.parametrize("text", ["{not json", '{"format": 99, "probes": {}}', '["a list"]', ""])
def test_an_unreadable_cache_is_timed_again_and_rewritten(cache, text):
    cache.parent.mkdir(parents=True)
    cache.write_text(text)
    measure = Rates(bfloat16=2000.0, float32=1000.0)
    with pytest.warns(UserWarning, match="Ignoring the precision probe cache"):
        chosen = choose_precision("auto", ZEN4, measure=measure, config=CONFIG)
    assert chosen.name == "bfloat16" and len(measure.calls) == 1
    assert json.loads(cache.read_text())["format"] == precision.PROBE_CACHE_FORMAT


def test_an_unwritable_cache_still_chooses(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(precision.CACHE_ENV, str(blocker / "cache"))  # a folder below a file
    monkeypatch.setenv(precision.PROBE_ENV, "1")
    with pytest.warns(UserWarning, match="Cannot cache the precision probe"):
        chosen = choose_precision("auto", ZEN4, measure=Rates(bfloat16=2000.0, float32=1000.0), config=CONFIG)
    assert chosen.name == "bfloat16"


def test_a_cache_that_is_a_folder_still_chooses_and_leaves_nothing_behind(cache):
    """The temporary file of the failed write was left beside the folder."""
    cache.mkdir(parents=True)
    with pytest.warns(UserWarning, match="Cannot read the precision probe cache"), \
            pytest.warns(UserWarning, match="Cannot cache the precision probe"):
        chosen = choose_precision("auto", ZEN4, measure=Rates(bfloat16=2000.0, float32=1000.0), config=CONFIG)
    assert chosen.name == "bfloat16"
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]


def test_a_16_bit_precision_the_model_failed_to_train_in_leaves_float32(cache):
    chosen = choose_precision("auto", ZEN4, measure=Rates(bfloat16=0.0, float32=1000.0), config=CONFIG)
    assert chosen.name == "float32" and chosen.policy == "float32"
    assert "mnist_convnet failed to train in it here" in chosen.reason and "ZOO_PRECISION_PROBE=refresh" in chosen.reason
    assert chosen.probe["rates"] == {"bfloat16": 0.0, "float32": 1000.0} and not chosen.probe["cached"]
    # Cached like any rates: the next run does not try again.
    again = choose_precision("auto", ZEN4, measure=Rates(bfloat16=2000.0, float32=1000.0), config=CONFIG)
    assert again.name == "float32" and again.probe["cached"] and "cached" in again.reason


@pytest.mark.parametrize("rates", [{"float32": 1000.0}, {"bfloat16": 1000.0, "float32": 0.0},
                                   {"bfloat16": -1.0, "float32": 1000.0}])
def test_a_probe_without_a_rate_for_each_candidate_fails(cache, rates):
    with pytest.raises(RuntimeError, match=r"no rate for each of \['bfloat16', 'float32'\]"):
        choose_precision("auto", ZEN4, measure=lambda options: rates, config=CONFIG)
    assert not cache.exists()


def test_the_cache_lives_where_asked(monkeypatch, tmp_path):
    monkeypatch.delenv(precision.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert precision.probe_cache_path() == tmp_path / "keras-zoo" / "precision.json"
    monkeypatch.setenv(precision.CACHE_ENV, str(tmp_path / "mine"))
    assert precision.probe_cache_path() == tmp_path / "mine" / "precision.json"


@pytest.mark.parametrize("value", ["refersh", "2", "maybe"])
def test_a_probe_setting_it_does_not_take_is_refused(cache, monkeypatch, value):
    monkeypatch.setenv(precision.PROBE_ENV, value)  # "refersh" once timed nothing and kept the cached rates
    measure = Rates(bfloat16=2000.0, float32=1000.0)
    for device in (ZEN4, ZEN3):
        with pytest.raises(ValueError, match=f"Received: ZOO_PRECISION_PROBE='{value}'"):
            choose_precision("auto", device, measure=measure, config=CONFIG)
    assert measure.calls == []


@pytest.mark.parametrize("value", ["off", "False", "no"])
def test_the_reason_names_the_probe_setting_received(cache, monkeypatch, value):
    monkeypatch.setenv(precision.PROBE_ENV, value)
    chosen = choose_precision("auto", ZEN4, measure=Rates(bfloat16=1.0, float32=1000.0), config=CONFIG)
    assert chosen.name == "bfloat16" and f"(the timed probe is off: ZOO_PRECISION_PROBE={value})" in chosen.reason


@pytest.mark.parametrize("entry", ["a string", {"rates": ["bfloat16", "float32"]},
                                   {"rates": {"bfloat16": 100.0, "float32": 0}},
                                   {"rates": {"bfloat16": "fast", "float32": "slow"}},
                                   {"rates": {"bfloat16": None, "float32": 1.0}}])
def test_an_unreadable_cache_entry_is_timed_again(cache, entry):
    measure = Rates(bfloat16=2000.0, float32=1000.0)
    choose_precision("auto", ZEN4, measure=measure, config=CONFIG)
    stored = json.loads(cache.read_text())
    stored["probes"] = {key: entry for key in stored["probes"]}
    cache.write_text(json.dumps(stored))
    with pytest.warns(UserWarning, match="entry for mnist_convnet .* unreadable; timing again"):
        chosen = choose_precision("auto", ZEN4, measure=measure, config=CONFIG)
    assert chosen.name == "bfloat16" and chosen.probe["cached"] is False and len(measure.calls) == 2
    assert json.loads(cache.read_text())["probes"] != stored["probes"]  # rewritten
