"""The `zoo` command line: output, exit codes and one-line errors."""

import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys

import keras
import pytest
from conftest import assert_one_line_error

from zoo import cli


def run(capsys, *argv):
    try:
        code = cli.main(list(argv))
    except SystemExit as e:  # argparse exits on usage errors and --help
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    for name in ("mnist_convnet", "cifar10_net", "vgg16", "edge_convnet", "lm_convnet"):
        assert name in out
    assert "93.32K" in out and "30.94G" in out  # mnist_convnet params, vgg16 FLOPs


def test_list_pattern(capsys):
    code, out, _ = run(capsys, "list", "vgg*")
    assert code == 0 and "vgg16" in out and "mnist_convnet" not in out


def test_info_json(capsys):
    code, out, _ = run(capsys, "info", "mnist_convnet", "--json")
    info = json.loads(out)
    assert code == 0 and info["params"] == 93_322 and info["input_shape"] == [28, 28, 1]


@pytest.mark.parametrize(
    "argv,code,fragments",
    [
        (["info", "vgg61"], 1, ["Received: name='vgg61'", "vgg16"]),
        (["list", "nonet*"], 1, ["Received: pattern='nonet*'"]),
        (["frob"], 2, ["invalid choice: 'frob'"]),
        ([], 2, ["required"]),
        (["info"], 2, ["name"]),
        (["list", "--verbose"], 2, ["unrecognized arguments: --verbose"]),
    ],
)
def test_errors_are_one_line(capsys, argv, code, fragments):
    got, out, err = run(capsys, *argv)
    assert got == code and out == ""
    assert err.startswith("zoo")
    assert_one_line_error(err, *fragments)


def _console_script():
    script = os.path.join(os.path.dirname(sys.executable), "zoo")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "zoo_cli"]


def test_console_script_freezes_the_long_lived_objects(monkeypatch, capsys):
    """`zoo` moves the objects its imports and its command leave out of the
    garbage collector's walks (`gc.freeze`), which otherwise cost a run a
    second at exit; the command still runs and returns its status."""
    import gc

    import zoo_cli

    monkeypatch.setattr(sys, "argv", ["zoo", "list", "mnist*"])
    gc.unfreeze()
    try:
        assert zoo_cli.main() == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert "mnist_convnet" in capsys.readouterr().out


def test_console_script_stderr_is_clean():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(_console_script() + ["info", "vgg61"], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and done.stdout == ""
    # TensorFlow's start-up logging is held back: the error is all there is.
    assert done.stderr.startswith("zoo: error: Unknown model.")
    assert_one_line_error(done.stderr, "Received: name='vgg61'")
    done = subprocess.run(_console_script() + ["list", "mnist*"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stderr == "" and "mnist_convnet" in done.stdout


def test_long_internal_errors_stay_on_one_line(capsys, monkeypatch):
    def explode(args):
        raise ValueError("first line\n" + "tensor " * 500)

    monkeypatch.setattr(cli, "cmd_info", explode)
    code, _, err = run(capsys, "info", "mnist_convnet")
    assert code == 1 and len(err) < 700
    assert_one_line_error(err, "first line tensor")


def test_the_zoo_s_own_long_errors_reach_the_user_whole(capsys, monkeypatch, tmp_path):
    """An offline ImageNet download's advice (file name, where to put it, the
    `Received:` ending) is printed whole, however long the cache's path."""
    import zoo
    from zoo.models import mobilenet

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / ("keras_home_" * 20)))
    # Port 9 (discard) on localhost refuses the connection, as an offline host would.
    monkeypatch.setattr(mobilenet, "_WEIGHTS_URL", "http://127.0.0.1:9/{file}")
    monkeypatch.setattr(cli, "cmd_info", lambda args: zoo.mobilenet_v2(weights="imagenet"))
    code, _, err = run(capsys, "info", "mnist_convnet")
    fname = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
    assert code == 1 and len(err) > 600  # what `zoo` cut its errors to
    assert_one_line_error(err, f"copy it into {tmp_path / ('keras_home_' * 20) / 'models'}",
                          f"weights='/path/to/{fname}'")
    assert err.rstrip().endswith("Received: weights='imagenet'")


def _print_lines(args):
    for i in range(100_000):
        print(f"line {i}")
    return 0


@pytest.mark.parametrize("argv", [["info", "mnist_convnet", "--json"], ["list", "--markdown"]])
def test_a_reader_that_stops_early_is_no_error(argv, monkeypatch):
    """`zoo info NAME --json | head -1`: quiet, as the `signal` module's documentation advises."""
    command = ("import sys; from zoo import cli; cli.cmd_info = cli.cmd_list = sys.modules['__main__'].f; "
               f"sys.exit(cli.main({argv!r}))")
    code = f"{inspect.getsource(_print_lines).replace('_print_lines', 'f')}\n{command}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    head = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert head.stdout.readline() == b"line 0\n"
    head.stdout.close()  # `head -1` exits
    err = head.stderr.read().decode()
    assert head.wait() == 1
    assert "zoo: error" not in err and "Broken pipe" not in err and "BrokenPipeError" not in err, err


def test_list_is_not_wrapped_in_a_file_or_pipe():
    """rich wraps at 80 columns where it finds no terminal; `zoo list > FILE` does not."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run(_console_script() + ["list"], capture_output=True, text=True, env=env)
    assert done.returncode == 0
    rows = {line.split()[1]: line for line in done.stdout.splitlines() if line.startswith("│")}
    assert "78.16% (cifar10 subset)" in rows["cifar10_net"]
    assert len(done.stdout.splitlines()) == len(cli_list_names()) + 4  # the rules, the header, a line per model


def cli_list_names():
    import zoo

    return zoo.list_models()


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_missing_backend_is_one_line(backend):
    """KERAS_BACKEND names a backend that is not installed: what to install, no traceback."""
    # None in sys.modules makes the import fail as it does where the package is absent.
    code = (f"import sys; sys.modules[{backend!r}] = None; sys.argv = ['zoo', 'list']; "
            "import zoo_cli; sys.exit(zoo_cli.main())")
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"zoo: error: Keras' {backend} backend is not installed")
    assert_one_line_error(done.stderr, f"pip install {backend}", f"Received: KERAS_BACKEND={backend!r}")


def test_an_unknown_backend_is_one_line():
    env = {**os.environ, "KERAS_BACKEND": "tensorfow"}
    done = subprocess.run(_console_script() + ["list"], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and done.stdout == ""
    assert_one_line_error(done.stderr, "Unknown Keras backend", "Received: KERAS_BACKEND='tensorfow'")


def test_an_unexpected_error_is_one_line_unless_the_traceback_is_asked_for(capsys, monkeypatch):
    def explode(args):
        raise NotImplementedError("Cannot convert a symbolic tf.Tensor (stack:0) to a numpy array")

    monkeypatch.setattr(cli, "cmd_info", explode)
    monkeypatch.delenv("ZOO_TRACEBACK", raising=False)
    code, stdout, err = run(capsys, "info", "mnist_convnet")
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "zoo: error: NotImplementedError: Cannot convert", "ZOO_TRACEBACK=1")
    monkeypatch.setenv("ZOO_TRACEBACK", "1")
    with pytest.raises(NotImplementedError):
        cli.main(["info", "mnist_convnet"])


def test_info_gives_the_records_in_brief(capsys):
    """Plain `zoo info` printed the weight and measured records as raw dicts of kilobytes."""
    code, stdout, _ = run(capsys, "info", "cifar10_net")
    lines = dict(line.strip().split(": ", 1) for line in stdout.splitlines())
    assert code == 0 and all(len(line) < 300 for line in stdout.splitlines())
    assert re.fullmatch(r"cifar10: \d+\.\d\d% top-1 on 423 images \(--json for the records\)", lines["weights"])
    assert lines["feature_info"].startswith("stem_act (24 channels, /1), stage1_block2_act (32 channels, /2)")


@pytest.mark.parametrize("bank", ["edge", "lm"])
def test_filters_draws_a_png(bank, tmp_path, capsys):
    out = tmp_path / "new" / f"{bank}.png"  # its folder made, as zoo export makes an export's
    code, stdout, _ = run(capsys, "filters", bank, "--out", str(out))
    assert code == 0 and str(out) in stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_filters_bad_input(tmp_path, capsys):
    (tmp_path / "a-file").write_text("mine")
    code, _, err = run(capsys, "filters", "edge", "--out", str(tmp_path / "a-file" / "e.png"))
    assert code == 1
    assert_one_line_error(err, "is a file, not a folder", "Received: out=")
    assert (tmp_path / "a-file").read_text() == "mine"
    code, _, err = run(capsys, "filters", "canny", "--out", str(tmp_path / "e.png"))
    assert code == 2 and "invalid choice: 'canny'" in err


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX computes without oneDNN")
def test_an_unknown_onednn_cap_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX9000")
    code, out, err = run(capsys, "train", "mnist_convnet", "--dataset", "mnist:sample", "--epochs", "1",
                         "--out", str(tmp_path / "run"))
    assert code == 1
    assert_one_line_error(err, "Received: ONEDNN_MAX_CPU_ISA='AVX9000'")
    assert not (tmp_path / "run" / "model.keras").exists()


def test_result_line_counts_epochs():
    from zoo.cli import _result_line

    summary = {"model": "mnist_convnet", "test_accuracy": 0.5, "test_loss": 1.0, "records": {"test": 10},
               "train_seconds": 1.0, "images_per_second": 0}
    assert "on 10 images after 1 epoch in 1.0 s; model and report in run/" in _result_line({**summary, "epochs": 1}, "run")
    assert "after 2 epochs in" in _result_line({**summary, "epochs": 2}, "run")


def test_image_size_help_says_it_resizes_every_dataset(capsys):
    """The help said "for folders", but `--image-size` resizes MNIST, CIFAR-10
    and tfds datasets too (the model is built for the new size)."""
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    help_text = " ".join(out.split())
    assert "--image-size IMAGE_SIZE N or HxW: resize the images to it" in help_text
    assert "for folders" not in help_text


JAX_CACHE_CASES = """
import json, os, sys
import jax
from zoo import cli

cache = os.environ["ZOO_CACHE_DIR"]
found = {}
jax.config.update("jax_enable_compilation_cache", False)  # turned off by the user
found["off"] = cli.cache_jax_compilations()
jax.config.update("jax_enable_compilation_cache", True)
jax.config.update("jax_compilation_cache_dir", sys.argv[1])  # the user's own folder
found["theirs"] = cli.cache_jax_compilations()
jax.config.update("jax_compilation_cache_dir", None)
os.environ["ZOO_CACHE_DIR"] = os.path.join(sys.argv[2], "cache")  # below a file: not writable
found["unwritable"] = cli.cache_jax_compilations()
os.environ["ZOO_CACHE_DIR"] = cache
found["ours"] = cli.cache_jax_compilations()
found["settings"] = [jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs,
                     jax.config.jax_compilation_cache_max_size]
jax.jit(lambda x: x * 3 + 1)(jax.numpy.ones(3)).block_until_ready()  # compiled in well under a second
found["kept"] = sorted(os.listdir(found["ours"]))
print(json.dumps(found))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_the_jax_backend_keeps_compiled_programs_unless_the_user_set_the_cache(tmp_path):
    """On JAX the CLI keeps XLA's programs in $ZOO_CACHE_DIR/jax, the quick
    compilations too, unless the user turned the cache off or chose its folder."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "KERAS_BACKEND": "jax", "ZOO_CACHE_DIR": str(tmp_path / "zoo")}
    for name in ("JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_COMPILATION_CACHE",
                 "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "JAX_COMPILATION_CACHE_MAX_SIZE"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", JAX_CACHE_CASES, str(tmp_path / "theirs"), str(blocker)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["off"] is found["theirs"] is found["unwritable"] is None
    ours = str(tmp_path / "zoo" / "jax")
    assert found["ours"] == ours and found["settings"] == [ours, 0.0, cli.JAX_CACHE_BYTES]
    assert any(name.endswith("-cache") for name in found["kept"]), found["kept"]
    assert not (tmp_path / "theirs").exists()


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="tests the other backends")
def test_the_other_backends_leave_jax_alone():
    assert cli.cache_jax_compilations() is None


def test_version(capsys):
    """`zoo --version` names the zoo's version, where it is installed, and Keras'
    and the backend's; the package's metadata carries the same version."""
    import importlib.metadata
    import platform

    import zoo

    code, out, err = run(capsys, "--version")
    assert code == 0 and err == "" and len(out.splitlines()) == 1
    assert out.startswith(f"keras-zoo {zoo.__version__} from {os.path.dirname(zoo.__file__)} ")
    assert f"Keras {keras.__version__}, backend {keras.backend.backend()}" in out
    assert out.rstrip().endswith(f"Python {platform.python_version()})")
    assert importlib.metadata.version("keras-zoo") == zoo.__version__
