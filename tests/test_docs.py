"""The docs and the README say what the code does."""

import ast
import builtins
import io
import json
import re
import tokenize
from pathlib import Path

import pytest
from test_cli import run

import zoo
from zoo.modelcard import docstring_args, model_card
from zoo.precision import CPU_CLASSES

ROOT = Path(__file__).resolve().parents[1]


def test_model_table_is_current(capsys):
    page = (ROOT / "docs" / "models.md").read_text()
    table = re.search(
        r"<!-- begin: zoo list --markdown -->\n(.*?)<!-- end: zoo list --markdown -->", page, re.S
    ).group(1)
    code, out, _ = run(capsys, "list", "--markdown")
    assert code == 0 and table == out, "regenerate the table with `zoo list --markdown`"


def test_readme_list_output_is_current(capsys):
    readme = (ROOT / "README.md").read_text()
    code, out, _ = run(capsys, "list", "--markdown")
    for row in out.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert re.search(r"│ " + r"\s+│ ".join(map(re.escape, cells)), readme), row


@pytest.mark.parametrize("name", zoo.list_models())
def test_model_cards_are_current(name, capsys):
    card = (ROOT / "docs" / "models" / f"{name}.md").read_text()
    code, out, _ = run(capsys, "info", name, "--markdown")
    assert code == 0 and card == out, "regenerate with `python tools/make_docs.py`"


def test_model_card_facts():
    card = model_card("mnist_convnet")
    assert "93,322 parameters" in card and "| `dropout` | `0.0` |" in card
    assert "| `conv1` | Conv2D | (26, 26, 32) | 320 |" in card
    assert "| `lr` |" in card  # the search space
    assert "mnist_convnet.py" not in card and "Received" not in card


def test_docstring_args():
    args = docstring_args(zoo.mnist_convnet)
    assert list(args)[:3] == ["input_shape", "classes", "include_top"]
    assert args["padding"].startswith("Convolution padding") and "Defaults to" in args["padding"]


def test_model_card_arguments_drop_only_the_defaults_sentence():
    """The default column states the default, so the card drops the
    docstring's "Defaults to ..." sentence; it dropped everything after it too
    (what vgg16 takes without its preprocessing, how resnet50's input_shape
    takes other channel counts)."""
    from zoo.modelcard import _arguments

    rows = {row.split("|")[1].strip(): row for row in _arguments("vgg16")[2:]}
    assert "Without it, a 3-channel model takes what `preprocess_input` returns" in rows["`include_preprocessing`"]
    assert "Defaults to" not in rows["`include_preprocessing`"]
    rows = {row.split("|")[1].strip(): row for row in _arguments("resnet50")[2:]}
    assert "height and width may be None. The pooled head takes any size" in rows["`input_shape`"]
    rows = {row.split("|")[1].strip(): row for row in _arguments("mnist_convnet")[2:]}
    assert rows["`dropout`"] == "| `dropout` | `0.0` | Dropout rate before the classifier. |"


def test_a_model_card_takes_the_arguments_its_docstring_refers_to():
    """vgg19's docstring says its other arguments are vgg16's: its card's
    "what" column was empty for all of them."""
    from zoo.modelcard import _arguments

    rows = [row.split("|") for row in _arguments("vgg19")[2:]]
    assert all(what.strip() for *_, what, _ in rows), rows
    assert dict((arg.strip(), what.strip()) for _, arg, _, what, _ in rows)["`name`"] == "Model name."


def _cpu(record: dict) -> str:
    """The machine of a record without its CPU count: `AMD EPYC (CPU, AVX-512 BF16)`."""
    return record["machine"].rsplit(", ", 1)[0]


def test_readme_figures_are_the_recorded_ones():
    """The README's training and export tables quote zoo/results.json, each figure with its CPU."""
    readme = (ROOT / "README.md").read_text()
    stored = json.loads((ROOT / "zoo" / "results.json").read_text())
    results = stored["models"]
    for name, task in (("mnist_convnet", "mnist"), ("cifar10_net", "cifar10")):
        assert results[name]["training"], name
        for key, tasks in results[name]["training"].items():
            training = tasks[task]
            reference = training["reference"]
            accuracy = results[name]["accuracy"][key][task]["top1"]
            runs = results[name]["accuracy"][key][task].get("top1_runs")
            mean = (f" (mean of {len(runs)} runs: {100 * min(runs):.2f} % to {100 * max(runs):.2f} %)"
                    if runs else "")
            # 'Keras "Simple MNIST convnet" (15 epochs)' reads 'Simple MNIST convnet, 15 epochs'.
            example, epochs = re.fullmatch(r'Keras "?([^"(]+?)"? \((.+)\)', reference["name"]).groups()
            row = (f"| {_cpu(training)} | {example}, {epochs}: "
                   f"{100 * reference['accuracy']:.2f} % in {reference['wall_seconds']:.0f} s | {name}: "
                   f"{100 * accuracy:.2f} % in {training['wall_seconds']:.0f} s{mean} | {training['time_ratio']:.2f} |")
            assert row in readme, row
    export_section = readme.split("benchmark_export.py")[1].split("## Benchmarks")[0]
    for name in ("mnist_convnet", "cifar10_net", "vgg16"):
        for key, export in results[name]["export"].items():
            runtimes = export["runtimes"]
            keras_top1, int8_top1 = runtimes["keras"]["top1"], runtimes["tflite_int8"]["top1"]
            onnx = f" / {100 * runtimes['onnx']['top1']:.2f} %" if "onnx" in runtimes else ""
            assert f"| {100 * keras_top1:.2f} % / {100 * int8_top1:.2f} %{onnx} |" in export_section, name
            if onnx:
                assert f"| {runtimes['onnx']['latency_ms']:.3f} ms |" in export_section, name
            assert _cpu(export) in " ".join(export_section.split()), key
    words = " ".join(readme.split())
    layers_page = " ".join((ROOT / "docs" / "layers.md").read_text().split())
    for lm in stored["layers"]["LeungMalikFilters"].values():
        error = f"{lm['max_abs_error']:.1e}".replace("e-0", "e-")
        assert f"within {error} of a dense 49x49 convolution and {lm['speedup']:.2f}x faster on " \
            f"{lm['images'].split()[0]} real 64x64 images on an {_cpu(lm)}" in words
        assert f"({lm['speedup']:.2f}x, max abs error {error}, on 2 cores of an {_cpu(lm)})" in layers_page


def test_every_figure_is_recorded_under_the_kind_of_machine_it_names():
    """zoo/results.json keeps one record per kind of machine: each says which, and its key matches."""
    stored = json.loads((ROOT / "zoo" / "results.json").read_text())
    records = [r for m in stored["models"].values() for section in ("export", "bench") for r in
               (m.get(section) or {}).items()]
    records += [(k, r) for m in stored["models"].values() for section in ("accuracy", "training")
                for k, tasks in (m.get(section) or {}).items() for r in tasks.values()]
    records += list(stored["layers"]["LeungMalikFilters"].items())
    assert len(records) > 10
    for key, record in records:
        assert record["machine_key"] == key, record
        assert ("(GPU" in record["machine"] or "H100" in record["machine"]) == key.startswith("gpu-"), record
        if key.startswith("cpu-avx512-bf16") and "-onednn-" not in key:
            assert "CPU, AVX-512 BF16)" in record["machine"]
        if key.startswith("cpu-amx-bf16"):
            assert "CPU, AMX-BF16)" in record["machine"]
        cpu_class = max((k for _, k, _ in CPU_CLASSES if key.startswith(k + "-")), key=len, default=None)
        if cpu_class and "-onednn-" not in key:  # keyed by its generation too (e.g. `-zen-5`)
            generation = key[len(cpu_class) + 1:].replace("-", " ")
            assert generation in record["machine"].lower().replace("-", " "), record


def test_benchmark_pages_are_current():
    """docs/benchmarks/training.md, export.md and backends.md list what zoo/results.json holds."""
    import subprocess
    import sys

    script = ("import json, sys; sys.path.insert(0, 'benchmarks');"
              "import benchmark_training, benchmark_export, benchmark_backends;"
              "r = json.load(open('zoo/results.json')); m = r['models'];"
              "print(json.dumps({'training.md': benchmark_training.page_lines(m),"
              " 'export.md': benchmark_export.page_lines(m),"
              " 'backends.md': benchmark_backends.page_lines(r['backends']) if 'backends' in r else None}))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    for page, lines in json.loads(done.stdout).items():
        path = ROOT / "docs" / "benchmarks" / page
        if lines is None:
            assert not path.exists(), f"{page} lists figures zoo/results.json lacks"
            continue
        assert path.read_text() == "\n".join(lines) + "\n", f"regenerate {page} with `python tools/make_docs.py`"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (ROOT / "README.md").read_text()


def test_readme_backend_figures_are_the_recorded_ones():
    """The README's backend table quotes zoo/results.json's `backends` section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Keras backends")[1].split("## Troubleshooting")[0]
    recorded = json.loads((ROOT / "zoo" / "results.json").read_text())["backends"]
    for key, tasks in recorded.items():
        for task, runs in tasks.items():
            for backend, r in runs.items():
                assert r["machine_key"] == key
                figure = f"{100 * r['accuracy']:.2f} % in {r['wall_seconds']:.0f} s"
                assert figure in section and _cpu(r) in section, (task, backend, figure)


def test_site_builds_strictly_with_every_page_and_api_entry(tmp_path):
    """`make docs`: MkDocs with --strict, so a broken link, a page left out of
    the navigation or an unresolved API reference fails here."""
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # Every Markdown page under docs/ is a page of the site.
    for page in (ROOT / "docs").rglob("*.md"):
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        built = site / ("index.html" if relative.name == "index" else relative / "index.html")
        assert built.is_file(), page
    # The API reference holds every public name of `zoo` and every layer.
    api = "".join(p.read_text() for p in (site / "api").rglob("index.html"))
    for name in zoo.__all__:
        if name != "layers":
            assert 'id="zoo.' in api and re.search(rf'id="zoo\.[\w.]*\b{name}"', api), name
    for layer in ("EdgeFilters", "LeungMalikFilters", "ReverseChannels"):
        assert f'id="zoo.layers.{layer}"' in api, layer
    home = (site / "index.html").read_text()
    assert "keras-zoo" in home and 'href="models/' in home  # the README, its links rewritten


# Python examples of the README and the docs pages run as written, but for
# statements that need what a reader has and the test has not: the network
# (ImageNet files), a file of theirs or a run's output. Names such a statement
# defines are then missing too, and statements using them are left out as
# well. `digits` and `images` are the readers' own: here, shipped samples.
_NEEDS_THE_READER = re.compile(r"imagenet|[\"'](?:/|runs/)")
_ERROR_COMMENT = re.compile(r"(\w+Error): (.*?)(?: \.\.\.)?$")


def _python_examples(page: Path):
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


def _comments(source: str) -> dict:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.start[0]: t.string[1:].strip() for t in tokens if t.type == tokenize.COMMENT}


def _stated_value(comment: str):
    """The Python literal a comment opens with, such as `93322` or a list: (True, value), else (False, None)."""
    words = comment.split()
    for n in range(len(words), 0, -1):
        try:
            return True, ast.literal_eval(" ".join(words[:n]).rstrip(",;"))
        except (ValueError, SyntaxError):
            continue
    return False, None


def _run_example(source: str, namespace: dict) -> tuple[int, int, list]:
    """Runs an example statement by statement; checks what expression statements' comments
    state: a literal value, or `SomeError: message ...`. Returns (run, checked, left out)."""
    comments, lines = _comments(source), source.splitlines()
    missing, run, checked, left_out = set(), 0, 0, []
    for node in ast.parse(source).body:
        text = "\n".join(lines[node.lineno - 1:node.end_lineno])
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if _NEEDS_THE_READER.search(text) or names & missing:
            missing |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            left_out.append(text)
            continue
        comment = comments.get(node.end_lineno, "")
        error = _ERROR_COMMENT.match(comment) if isinstance(node, ast.Expr) else None
        if error:
            with pytest.raises(getattr(builtins, error[1], Exception)) as info:
                exec(compile(ast.Module([node], []), "<example>", "exec"), namespace)
            assert type(info.value).__name__ == error[1] and str(info.value).startswith(error[2]), (text, info.value)
            checked += 1
        elif isinstance(node, ast.Expr):
            value = eval(compile(ast.Expression(node.value), "<example>", "eval"), namespace)
            stated, expected = _stated_value(comment)
            if stated:
                assert value == expected, (text, value)
                checked += 1
        else:
            exec(compile(ast.Module([node], []), "<example>", "exec"), namespace)
        run += 1
    return run, checked, left_out


def _readers_arrays() -> dict:
    from zoo.data import read_sample

    (digits, _), _, _ = read_sample("mnist:sample")
    (images, _), _, _ = read_sample("cifar10:sample")
    return {"digits": digits[:8], "images": images[:4]}


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_python_examples_run_as_written(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what an example writes stays out of the checkout
    examples = _python_examples(ROOT / page)
    assert examples
    totals = [_run_example(source, _readers_arrays()) for source in examples]
    assert sum(run for run, _, _ in totals) >= 3, totals
    if page == "README.md":  # 93322, flops, the list, the ValueError
        assert sum(checked for _, checked, _ in totals) >= 4, totals


@pytest.mark.slow
def test_the_tuning_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for source in _python_examples(ROOT / "docs" / "tuning.md"):
        run, _, left_out = _run_example(source, {})
        assert run and not left_out


def test_example_checks_can_fail():
    namespace = {}
    with pytest.raises(AssertionError):
        _run_example("1 + 1  # 3\n", namespace)
    with pytest.raises(AssertionError):
        _run_example("int('x')  # ValueError: something else ...\n", namespace)
    assert _run_example("x = 1  # 2 of them\nx + 1  # 2\n", namespace) == (2, 1, [])
    assert _run_example("m = load('imagenet')\nm.predict(x)\ny = 3\n", namespace)[2] == [
        "m = load('imagenet')", "m.predict(x)"]
