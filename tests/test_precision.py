"""`zoo.precision`: the precision chosen for each kind of device, and why."""

import pytest

from zoo import precision
from zoo.precision import Device, choose_precision

ZEN3 = Device("cpu", "AMD EPYC 7B13", flags=("avx2", "fma"))
ZEN4 = Device("cpu", "AMD EPYC 9B14", flags=("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"))
SAPPHIRE_RAPIDS = Device("cpu", "Intel Xeon", flags=("avx2", "fma", "avx512f", "amx_bf16", "amx_tile"))
SKYLAKE = Device("cpu", "Intel Xeon", flags=("avx2", "fma", "avx512f"))


@pytest.mark.parametrize(
    "device,name,policy,why",
    [
        (ZEN3, "float32", "float32", "no native bfloat16"),
        (SKYLAKE, "float32", "float32", "no native bfloat16"),
        (ZEN4, "bfloat16", "mixed_bfloat16", "avx512_bf16"),
        (SAPPHIRE_RAPIDS, "bfloat16", "mixed_bfloat16", "amx_bf16"),
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
    assert ZEN4.to_json()["flags"] == list(ZEN4.flags)


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx fma avx2 bmi2

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx fma avx2 bmi2 avx512_bf16
"""


def test_cpu_info_reads_the_first_processor(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert precision._cpu_info(str(path)) == ("AMD EPYC 7B13", ("avx2", "fma"))
    name, flags = precision._cpu_info(str(tmp_path / "missing"))
    assert flags is None and name


def test_this_machine():
    device = precision.current_device()
    assert device.kind in ("cpu", "gpu") and device.name
    chosen = choose_precision("auto")
    assert chosen.name in ("float32", "bfloat16", "float16") and chosen.reason
