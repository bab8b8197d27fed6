"""`zoo bench`: the figures it measures, the page and the results it records."""

import functools
import json

import warnings

import keras
import pytest
from conftest import assert_one_line_error, needs_bfloat16
from test_cli import run

from zoo import baselines, bench
from zoo.precision import choose_precision, current_device


@pytest.fixture(scope="module")
def results():
    # The matmul probe on 512x512 products, not 2048x2048: half the run's
    # time where bfloat16 is emulated, and the figures' arithmetic the same.
    # Seeded here: a module's fixture runs before conftest's per-test seed, and
    # would take the weights of whatever ran before it in this process.
    keras.utils.set_random_seed(0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench, "matmul_peak_gflops", functools.partial(bench.matmul_peak_gflops, n=512))
        return bench.run(["mnist_convnet"], steps=2, rounds=1, runs=2, progress=lambda line: None)


def test_figures(results):
    assert results["peak_gflops"]["float32"] > 0 and results["machine"]
    # Not timed where oneDNN is held below the CPU's bfloat16 instructions (its matmul aborts there).
    assert results["peak_gflops"].get("bfloat16", 0) > 0 or current_device().bfloat16_held_back
    r = results["models"]["mnist_convnet"]
    zoo, base = r["zoo"], r["baseline"]
    assert zoo["params"] == 93_322 and base["params"] == 34_826
    # The model trains in the precision chosen for this machine, the baseline in float32.
    chosen = choose_precision("auto")
    assert results["precision"] == {"name": chosen.name, "reason": chosen.reason}
    assert zoo["precision"] == zoo["compute_dtype"] == chosen.name and base["compute_dtype"] == "float32"
    assert results["device"]["description"] in results["machine"]
    assert zoo["flops"] > base["flops"] > 0
    for side in (zoo, base):
        assert side["train_images_per_second"] > 0 and 0 < side["fraction_of_peak"]
        peak = results["peak_gflops"][side["compute_dtype"]]
        assert side["fraction_of_peak"] == pytest.approx(side["train_gflops"] / peak, abs=0.002)
        # GFLOP/s is the images/s times three forward passes.
        assert side["train_gflops"] == pytest.approx(side["train_images_per_second"] * 3 * side["flops"] / 1e9, rel=0.01)
        for runtime in bench.RUNTIMES:
            figures = side["inference"][runtime]
            assert figures["batch1_ms"] > 0 and figures["batch64_ms"] > 0 and figures["bytes"] > 0
        # An int8 file holds a quarter of the float32 weights' bytes, give or take the graph.
        assert side["inference"]["tflite_int8"]["bytes"] < side["inference"]["tflite_float32"]["bytes"] / 2
    assert r["ratios"]["train_images_per_second"] == pytest.approx(
        zoo["train_images_per_second"] / base["train_images_per_second"], rel=0.01)


def test_record(results, tmp_path):
    path, page = tmp_path / "results.json", tmp_path / "bench.md"
    other = {"cpu-other": {"zoo": {"params": 1}}}
    path.write_text(json.dumps({"models": {"mnist_convnet": {"accuracy": {"cpu-x": {"mnist": {"top1": 0.99}}},
                                                             "bench": other}}}))
    bench.record(results, path, page)
    stored = json.loads(path.read_text())["models"]["mnist_convnet"]
    assert stored["accuracy"] == {"cpu-x": {"mnist": {"top1": 0.99}}}  # other figures kept
    key = results["machine_key"]
    assert key == current_device().key and stored["bench"]["cpu-other"] == other["cpu-other"]  # beside, not over
    mine = stored["bench"][key]
    assert mine["zoo"]["params"] == 93_322 and mine["peak_gflops"] == results["peak_gflops"]
    assert mine["machine"] == results["machine"] and mine["precision"] == results["precision"]
    text = page.read_text()
    assert "| mnist_convnet | 93,322 |" in text and "| mnist_convnet | tflite_int8 |" in text


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["bench", "resnet51"], ["Received: name='resnet51'"]),
        (["bench", "mnist_convnet", "--steps", "0"], ["--steps"]),
        # Refused before measuring, not after minutes of it.
        (["bench", "mnist_convnet", "--out", "/no/such/folder/results.json"],
         ["Received: --out '/no/such/folder/results.json'"]),
        (["bench", "mnist_convnet", "--out", "/"], ["Received: --out '/'"]),
    ],
)
def test_bad_input(capsys, argv, fragments):
    code, stdout, err = run(capsys, *argv)
    assert code in (1, 2) and "matmul" not in stdout
    assert_one_line_error(err, *fragments)


def test_record_needs_a_source_checkout(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "CHECKOUT", tmp_path)  # no pyproject.toml: an installed package
    code, stdout, err = run(capsys, "bench", "mnist_convnet", "--record")
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "source checkout", str(tmp_path))


def _keras_only(results: dict, accelerator: str) -> dict:
    """`results` as a run on another backend's GPU would give them: Keras timed alone."""
    gpu = json.loads(json.dumps(results))
    gpu.update(accelerator=accelerator, backend="jax", machine=f"{accelerator}, 16 logical CPUs",
               machine_key="gpu-" + "-".join(accelerator.split(" (")[0].lower().split()))
    for result in gpu["models"].values():
        for side in ("zoo", "baseline"):
            result[side]["inference"] = {"keras": result[side]["inference"]["keras"]}
        result["ratios"] = {k: v for k, v in result["ratios"].items() if not k.startswith(("saved", "tflite"))}
    return gpu


def test_record_a_gpu_run_beside_the_cpu_figures(results, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "DOCS", tmp_path)  # not the checkout's pages
    path = tmp_path / "results.json"
    bench.record(results, path)
    page = bench.record(_keras_only(results, "NVIDIA H100 80GB HBM3 (1 GPU)"), path)
    assert page == tmp_path / "bench-gpu-nvidia-h100-80gb-hbm3.md"
    assert page.read_text().startswith("# zoo bench on NVIDIA H100")
    assert (tmp_path / f"bench-{results['machine_key']}.md").exists()
    stored = json.loads(path.read_text())["models"]["mnist_convnet"]["bench"]
    assert stored[results["machine_key"]]["machine"] == results["machine"]  # the CPU figures stay
    gpu = stored["gpu-nvidia-h100-80gb-hbm3"]
    assert gpu["accelerator"] == "NVIDIA H100 80GB HBM3 (1 GPU)" and set(gpu["zoo"]["inference"]) == {"keras"}


def test_a_run_of_some_models_adds_to_the_page(results, tmp_path, monkeypatch):
    """`zoo bench resnet50 --record` after a full run keeps the other rows,
    and the page names the run each row came from."""
    monkeypatch.setattr(bench, "DOCS", tmp_path)
    path = tmp_path / "results.json"
    bench.record(results, path)
    later = json.loads(json.dumps(results))
    later["models"] = {"other_net": later["models"]["mnist_convnet"]}
    later.update(command="zoo bench other_net --record", measured="2027-01-01")
    page = bench.record(later, path).read_text()
    assert "| mnist_convnet | 93,322 |" in page and "| other_net | 93,322 |" in page
    assert "in 2 runs" in page and "`zoo bench other_net --record`, 2027-01-01" in page
    assert page.count("| mnist_convnet | keras |") == page.count("| other_net | keras |") == 1
    # Again with the same models: one run's figures replace its own, the page has one run once more.
    assert "in 2 runs" not in bench.record({**results, "models": {**results["models"], "other_net":
                                                                  results["models"]["mnist_convnet"]}}, path).read_text()


def test_markdown_of_a_keras_only_run(results):
    text = bench.markdown(_keras_only(results, "NVIDIA H100 80GB HBM3 (1 GPU)"))
    assert text.startswith("# zoo bench on NVIDIA H100 80GB HBM3 (1 GPU)")
    assert "| mnist_convnet | keras |" in text and "tflite" not in text.split("## Training")[1]
    assert "timed the Keras" in text and "TF32" in text


def test_keras_only_inference(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "runtimes", lambda: ("keras",))  # as on a backend without TensorFlow
    images, _ = bench.sample_images((28, 28, 1), count=8)
    figures = bench.inference(baselines.BASELINES["mnist_convnet"].build((28, 28, 1), 10), images, tmp_path, runs=2)
    assert set(figures) == {"keras"} and figures["keras"]["batch1_ms"] > 0 and figures["keras"]["bytes"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]  # nothing exported


def test_from_a_saved_run(capsys, results, tmp_path):
    saved, again = tmp_path / "gpu.json", tmp_path / "again.json"
    saved.write_text(json.dumps(results))
    code, stdout, err = run(capsys, "bench", "--from", str(saved), "--out", str(again))
    assert code == 0 and "matmul" not in stdout  # nothing measured
    assert json.loads(again.read_text()) == results


@pytest.mark.parametrize("content", ["{not json", '{"models": {"mnist_convnet": {}}}', "[]"])
def test_from_refuses_what_zoo_bench_did_not_write(capsys, tmp_path, content):
    path = tmp_path / "results.json"
    path.write_text(content)
    code, stdout, err = run(capsys, "bench", "--from", str(path))
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "zoo bench --out", str(path))


def _minimal_results(tmp_path):
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps({
        "machine": "m", "machine_key": "gpu-x", "peak_gflops": {"float32": 1.0}, "command": "zoo bench mnist_convnet",
        "models": {"mnist_convnet": {"zoo": {"inference": {"keras": {"batch1_ms": 1.0}}}}},
    }))
    return path


@pytest.mark.parametrize("given,fragment", [
    (["vgg16"], "Received: MODEL ['vgg16']"),
    (["--steps", "5"], "Received: --steps 5"),
    (["--rounds", "1"], "Received: --rounds 1"),
    (["--runs", "2"], "Received: --runs 2"),
    (["--precision", "float32"], "Received: --precision 'float32'"),
])
def test_from_refuses_what_it_would_ignore(capsys, tmp_path, given, fragment):
    """`zoo bench vgg16 --steps 5 --from F --out O` measured nothing and wrote
    F's models, saying nothing of the options it had dropped."""
    out = tmp_path / "out.json"
    code, stdout, err = run(capsys, "bench", *given, "--from", str(_minimal_results(tmp_path)), "--out", str(out))
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "--from measures nothing", fragment)
    assert not out.exists()


def test_from_needs_somewhere_to_put_the_results(capsys, tmp_path):
    """`zoo bench --from F` alone read F and did nothing, with status 0."""
    path = _minimal_results(tmp_path)
    code, stdout, err = run(capsys, "bench", "--from", str(path))
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "--out FILE or --record", f"Received: --from {str(path)!r}")
    out = tmp_path / "out.json"
    code, stdout, _ = run(capsys, "bench", "--from", str(path), "--out", str(out))
    assert code == 0 and json.loads(out.read_text()) == json.loads(path.read_text())


def test_from_a_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "bench", "--from", str(tmp_path / "nope.json"))
    assert code == 1
    assert_one_line_error(err, "No such file", "nope.json")


@needs_bfloat16
def test_peak_is_the_best_of_a_probe_before_and_after(monkeypatch):
    rates = iter([100.0, 150.0, 200.0, 120.0])  # float32, bfloat16 before; the same after
    monkeypatch.setattr(bench, "matmul_peak_gflops", lambda dtype: next(rates))

    def fake_model(name, *, peaks, **kwargs):
        side = {"train_gflops": 50.0, "compute_dtype": "float32", "train_images_per_second": 1.0,
                "fraction_of_peak": round(50.0 / peaks["float32"], 3), "inference": {"keras": {"batch1_ms": 1.0}}}
        return {"zoo": dict(side), "baseline": {**side, "name": "baseline"}, "ratios": {"train_images_per_second": 1.0}}

    monkeypatch.setattr(bench, "bench_model", fake_model)
    lines = []
    results = bench.run(["mnist_convnet"], progress=lines.append)
    assert results["peak_gflops"] == {"float32": 200.0, "bfloat16": 150.0}
    assert results["models"]["mnist_convnet"]["zoo"]["fraction_of_peak"] == 0.25  # 50 of 200, not of 100
    assert any(line.startswith("matmul probe again") for line in lines)


def test_no_bfloat16_matmul_where_onednn_is_held_below_it(monkeypatch):
    # There TensorFlow's bfloat16 matmul aborts the process (a Zen 5 held to AVX2): it is not probed.
    from zoo.precision import Device, Precision

    held = Device("cpu", "AMD EPYC", flags=("avx2", "fma", "avx512f", "avx512_bf16"), isa_cap="AVX2")
    monkeypatch.setattr(bench, "choose_precision", lambda precision: Precision("float32", "float32", "held", held))
    timed = []
    monkeypatch.setattr(bench, "matmul_peak_gflops", lambda dtype: timed.append(dtype) or 100.0)

    def fake_model(name, *, peaks, **kwargs):
        side = {"train_gflops": 50.0, "compute_dtype": "float32", "train_images_per_second": 1.0,
                "fraction_of_peak": 0.5, "inference": {"keras": {"batch1_ms": 1.0}}}
        return {"zoo": dict(side), "baseline": {**side, "name": "baseline"}, "ratios": {"train_images_per_second": 1.0}}

    monkeypatch.setattr(bench, "bench_model", fake_model)
    lines = []
    results = bench.run(["mnist_convnet"], progress=lines.append)
    assert timed == ["float32", "float32"] and results["peak_gflops"] == {"float32": 100.0}
    assert "matmul probe: 100.0 GFLOP/s float32 (bfloat16 not timed: oneDNN is held below" in "\n".join(lines)
    assert "reached\n100.0 GFLOP/s float32 (bfloat16 not timed" in "\n".join(bench._run_lines(results))


@needs_bfloat16
def test_the_precision_probe_times_each_candidate():
    from zoo import training

    measure = bench.precision_probe("mnist_convnet", training.get_recipe("mnist_convnet"), input_shape=(28, 28, 1),
                                    classes=10, batch_size=64)
    rates = measure(["bfloat16", "float32"])
    assert sorted(rates) == ["bfloat16", "float32"] and all(rate > 0 for rate in rates.values())


def _clock_fed(monkeypatch, ends, **settings):
    """A `_CallClock` fed compiled calls of 8 steps ending at `ends` until it
    stops the fit; returns it and how many calls ran."""
    import types

    now = iter(ends)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: next(now)))
    clock, model = bench._CallClock(**settings), types.SimpleNamespace(stop_training=False)
    clock.set_model(model)
    calls = 0
    while not model.stop_training:
        clock.on_train_batch_end(8 * calls + 7)
        calls += 1
    return clock, calls


def test_the_probe_clock_leaves_out_the_warm_up_and_stops_when_enough_is_timed(monkeypatch):
    # A 5-second first call (tracing), then calls of 0.25 s: four are timed
    # for 1 s, in two rounds of two; the traced call counts in neither.
    ends = [5.0 + 0.25 * i for i in range(20)]
    clock, calls = _clock_fed(monkeypatch, ends, warmup=1, seconds=1.0, calls=2)
    assert calls == 5
    assert clock.rates(batch_size=10, rounds=2) == [320.0, 320.0]  # 2 calls x 8 steps x 10 images in 0.5 s


def test_the_probe_clock_keeps_the_round_a_pause_missed(monkeypatch):
    # The machine pauses for a second in the second round: that round is slow, the first is not.
    ends = [1.0, 1.25, 1.5, 2.75]
    clock, calls = _clock_fed(monkeypatch, ends, warmup=1, seconds=1.0, calls=2)
    assert calls == 4
    first, second = clock.rates(batch_size=10, rounds=2)  # calls 1-2, then call 3
    assert first == 320.0 and second == 80 / 1.25


def test_the_probe_clock_times_at_least_a_call_per_round(monkeypatch):
    # Calls longer than all the seconds asked: still one per round.
    clock, calls = _clock_fed(monkeypatch, [10.0, 20.0, 30.0, 40.0], warmup=1, seconds=1.0, calls=2)
    assert calls == 3 and clock.rates(batch_size=10, rounds=2) == [8.0, 8.0]


def test_probe_rate_times_in_one_fit_stopped_by_its_clock(monkeypatch):
    import keras

    import zoo

    fits = []
    fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda self, *a, **k: fits.append(k) or fit(self, *a, **k))
    x, labels = bench.sample_images((28, 28, 1))
    model = zoo.mnist_convnet()
    rate = bench.probe_rate(model, "adam", 64, x.astype("float32"), labels, steps_per_execution=4, seconds=0.05)
    assert rate > 0 and len(fits) == 1
    # The fit's steps only bound it: the clock stopped it after a few calls.
    assert 3 * 4 <= int(model.optimizer.iterations) < fits[0]["steps_per_epoch"] // 1000


@pytest.mark.parametrize("setting", [{"warmup": 0}, {"rounds": 0}, {"seconds": 0.0}])
def test_probe_rate_refuses_nonsense_settings(setting):
    import zoo

    x, labels = bench.sample_images((28, 28, 1))
    name, value = next(iter(setting.items()))
    with pytest.raises(ValueError, match=f"Received: {name}={value!r}"):
        bench.probe_rate(zoo.mnist_convnet(), "adam", 64, x.astype("float32"), labels, **setting)


def test_the_probe_gives_0_for_a_16_bit_precision_that_fails_to_train(monkeypatch):
    from zoo import training

    def probe_rate(model, *args, **kwargs):
        if model.dtype_policy.name != "float32":
            raise RuntimeError("could not create a primitive descriptor")
        return 1234.0

    monkeypatch.setattr(bench, "probe_rate", probe_rate)
    measure = bench.precision_probe("mnist_convnet", training.get_recipe("mnist_convnet"), input_shape=(28, 28, 1),
                                    classes=10, batch_size=64)
    with pytest.warns(UserWarning, match=r"mnist_convnet did not train in bfloat16 here \(RuntimeError: could not "
                                         r"create a primitive descriptor\); --precision auto keeps float32"):
        assert measure(["bfloat16", "float32"]) == {"bfloat16": 0.0, "float32": 1234.0}
    # Without float32 to fall back on, the failure is raised.
    monkeypatch.setattr(bench, "probe_rate", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        measure(["float32"])


def test_the_probe_raises_what_the_models_arguments_break_in_float32_too(monkeypatch):
    """An input too small for the model warned that it "did not train in
    bfloat16 here", then training failed on the same error."""
    from zoo import training

    monkeypatch.setattr(bench, "probe_rate", lambda *a, **k: 1234.0)
    measure = bench.precision_probe("mnist_convnet", training.get_recipe("mnist_convnet"), input_shape=(4, 4, 1),
                                    classes=10, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no word of bfloat16
        with pytest.raises(ValueError, match="too small"):
            measure(["bfloat16", "float32"])


def test_the_probe_key_leaves_out_what_only_inference_runs():
    # Test-time views change no training step: a new recipe's views must
    # not time the model again. A wider model must.
    shape = dict(input_shape=(32, 32, 3), classes=10, batch_size=256)
    two = bench.probe_config("cifar10_net", **shape, model_kwargs={"test_time_augmentation": "flip"})
    six = bench.probe_config("cifar10_net", **shape, model_kwargs={"test_time_augmentation": "flip_translate"})
    wider = bench.probe_config("cifar10_net", **shape, model_kwargs={"filters": (32, 64, 256)})
    assert two == six == bench.probe_config("cifar10_net", **shape) != wider
    assert wider["model_kwargs"] == {"filters": [32, 64, 256]}


def test_the_page_shows_what_the_probe_measured(results):
    probed = json.loads(json.dumps(results))
    zoo = probed["models"]["mnist_convnet"]["zoo"]
    zoo["precision_probe"] = {"bfloat16": 4321.0, "float32": 5678.0}
    text = bench.markdown(probed)
    assert f"| mnist_convnet | 4,321 bfloat16, 5,678 float32 | {zoo['compute_dtype']} |" in text
    assert "| model | probe, images/s | chosen |" not in bench.markdown(results)  # nothing timed, nothing shown
