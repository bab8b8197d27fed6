"""Model cards: one Markdown page per model, written from code and results.

Every fact on a card comes from somewhere a script keeps true: the
architecture from building the default model, the arguments and defaults
from the factory's signature and docstring, the recipe from
`zoo.training.RECIPES`, the search space from `zoo.tuning.SEARCH_SPACES`, and
the measured figures from `zoo/results.json` as the benchmarks recorded them.
`zoo info NAME --markdown` prints a card; docs/models/ holds them, and a test
keeps them current.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys

from zoo import training, tuning
from zoo._common import format_count
from zoo.registry import by_machine, get_model_factory, list_models, model_info, runs_spread


def docstring_args(fn) -> dict[str, str]:
    """The `Args:` section of a Google-style docstring, one line per argument."""
    doc = inspect.getdoc(fn) or ""
    match = re.search(r"^Args:\n(.*?)(?:\n\S|\Z)", doc, re.S | re.M)
    args, current = {}, None
    for line in (match.group(1) if match else "").splitlines():
        head = re.match(r"^    (\*{0,2}\w+):\s*(.*)$", line)
        if head:
            current = head.group(1)
            args[current] = head.group(2)
        elif current and line.strip():
            args[current] += " " + line.strip()
    return args


def _description(name: str) -> str:
    factory = get_model_factory(name)
    module = sys.modules[factory.__module__]
    paragraphs = (inspect.getdoc(module) or "").split("\n\n")
    body = [p for p in paragraphs[1:] if not p.startswith(("Reference", "Example", ">>>"))]
    reference = next((p for p in paragraphs if p.startswith("Reference")), None)
    lines = [" ".join(paragraphs[0].split())]
    lines += [" ".join(p.split()) for p in body[:2]]
    if reference:
        lines.append("Reference: " + " ".join(reference.split()[1:]))
    return "\n\n".join(lines)


def _architecture(name: str) -> list[str]:
    model = get_model_factory(name)()
    rows = ["| layer | type | output shape | parameters |", "| --- | --- | --- | --- |"]
    for layer in model.layers:
        shape = layer.output.shape if hasattr(layer, "output") else ""
        rows.append(
            f"| `{layer.name}` | {type(layer).__name__} | {tuple(shape)[1:]} | {layer.count_params():,} |"
        )
    return rows


def _arguments(name: str) -> list[str]:
    factory = get_model_factory(name)
    described = docstring_args(factory)
    # "The other arguments are those of `vgg16`": described there.
    sibling = re.search(r"other\s+arguments\s+are\s+those\s+of\s+`(\w+)`", inspect.getdoc(factory) or "")
    if sibling:
        described = {**docstring_args(get_model_factory(sibling.group(1))), **described}
    rows = ["| argument | default | what |", "| --- | --- | --- |"]
    for arg, parameter in inspect.signature(factory).parameters.items():
        default = "required" if parameter.default is inspect.Parameter.empty else f"`{parameter.default!r}`"
        # The "Defaults to" sentence only (the default column says it), not what follows it.
        what = re.sub(r"\s*Defaults to (?:[^.]|\.(?!\s|$))*\.(?=\s|$)", "", described.get(arg, ""))
        what = what.strip().replace("|", "\\|")
        rows.append(f"| `{arg}` | {default} | {what} |")
    return rows


def _recipe(name: str) -> list[str]:
    if name in training.FINETUNE_RECIPES:
        recipe, phase2 = training.FINETUNE_RECIPES[name]
        fields = {**dataclasses.asdict(recipe), **phase2}
        intro = f"`zoo finetune {name}`: phase 1 trains a new head on the frozen base, phase 2 the top blocks too."
    else:
        fields = dataclasses.asdict(training.get_recipe(name))
        intro = f"`zoo train {name}` with nothing else:"
    rows = [intro, "", "| setting | value |", "| --- | --- |"]
    rows += [f"| `{k}` | `{v!r}` |" for k, v in fields.items() if v not in ({}, None)]
    return rows


def _search_space(name: str) -> list[str]:
    table = tuning.search_space_markdown().splitlines()
    rows = [row for row in table[2:] if row.startswith(f"| {name} |")]
    return ["| hyperparameter | searched | default |", "| --- | --- | --- |"] + [
        "|" + row.split("|", 2)[2] for row in rows
    ]


def _measured(measured: dict) -> list[str]:
    """The recorded figures, each kind of machine on its own lines (see `zoo.registry.by_machine`)."""
    if not measured:
        return ["No benchmark has recorded figures for this model yet."]
    lines = []
    for _, tasks in by_machine(measured.get("accuracy")):
        for task, a in tasks.items():
            runs = a.get("top1_runs")
            spread = f" ({runs_spread(runs)})" if runs else ""
            lines.append(
                f"- **Accuracy.** {a['top1']:.2%} top-1{spread} on {a['test_images']:,} {task} test images after "
                f"training on {a['train_images']:,} ({a['data']}), by `{a['command']}`; {a['machine']}, {a['measured']}."
            )
    for _, tasks in by_machine(measured.get("training")):
        for t in tasks.values():
            ref = t.get("reference")
            versus = (f", against {ref['accuracy']:.2%} in {ref['wall_seconds']:.0f} s for {ref['name']} "
                      f"(time ratio {t['time_ratio']:.2f})") if ref else ""
            lines.append(
                f"- **Training time** ({t['machine']}). {t['epochs']} epochs in {t['wall_seconds']:.0f} s for the "
                f"whole command, {t['images_per_second']:,.0f} images/s{versus}."
            )
    for key, bench in by_machine(measured.get("bench")):
        zoo, base = bench["zoo"], bench["baseline"]
        inference = zoo["inference"]
        page = f"../benchmarks/bench-{key}.md"
        if bench.get("accelerator"):
            lines.append(
                f"- **On a GPU** (`{bench['command']}`, {bench['machine']}, {bench['measured']}): trains at "
                f"{zoo['train_images_per_second']:,.0f} images/s, {bench['ratios']['train_images_per_second']:.2f}x "
                f"{base['name']}; batch-1 latency {inference['keras']['batch1_ms']:.2f} ms in Keras. "
                f"See [the benchmark page]({page})."
            )
            continue
        lines.append(
            f"- **Speed** (`{bench['command']}`, {bench['machine']}, {bench['measured']}): trains at "
            f"{zoo['train_images_per_second']:,.0f} images/s ({zoo['train_gflops']:.1f} GFLOP/s, "
            f"{zoo['fraction_of_peak']:.0%} of the {bench['peak_gflops'][zoo['compute_dtype']]} GFLOP/s "
            f"{zoo['compute_dtype']} matmul peak"
            + ("; above the peak because its FLOPs count the frozen Leung-Malik bank as the dense 49x49 "
               "convolution it stands for, which it computes with DFT matrix products" if zoo["fraction_of_peak"] > 1 else "")
            + "), "
            f"{bench['ratios']['train_images_per_second']:.2f}x {base['name']}; batch-1 latency "
            f"{inference['keras']['batch1_ms']:.2f} ms in Keras, {inference['saved_model']['batch1_ms']:.2f} ms "
            f"as a SavedModel, {inference['tflite_float32']['batch1_ms']:.3f} ms TFLite float32, "
            f"{inference['tflite_int8']['batch1_ms']:.3f} ms TFLite int8. See [the benchmark page]({page})."
        )
    for _, export in by_machine(measured.get("export")):
        rows = export["runtimes"]
        lines.append(
            f"- **Export** ({export['model']}; {export['machine']}): TFLite int8 {rows['tflite_int8']['top1']:.2%} "
            f"top-1 against {rows['keras']['top1']:.2%} in Keras on {export['test_images']:,} {export['dataset']} "
            f"test images, {rows['tflite_int8']['bytes'] / 1e6:.2f} MB against {rows['tflite_none']['bytes'] / 1e6:.2f} "
            "MB float32. See [the export benchmark](../benchmarks/export.md)."
        )
    return lines


def _weights(info: dict) -> list[str]:
    if not info["weights"]:
        return ["None shipped: `weights=None` or a weights file of your own."]
    lines = []
    for tag, record in info["weights"].items():
        test = record["metrics"]["test"]
        top5 = f", top-5 {test['top5']:.1%}" if "top5" in test else ""
        where = f"; measured on {record['metrics']['machine']}" if record["metrics"].get("machine") else ""
        if record["file"]:
            source = (f"shipped in the package ({record['size'] / 1e6:.2f} MB, sha256 `{record['sha256'][:12]}…`), "
                      f"trained by `{record['command']}`")
        else:
            checked = ("md5-checked" if record["files"]["top"]["md5"] else
                       "keras.applications publishes no hash: the sha256 of the first download is pinned beside it")
            source = f"downloaded once from [keras.applications]({record['files']['top']['url']}), {checked}"
        lines.append(
            f"- **`weights={tag!r}`**: {source}. Trained on {record['dataset']}. Top-1 {test['top1']:.2%}{top5} "
            f"on {test['records']:,} records ({test['split']}){where}. Input: {record['preprocessing']}."
        )
    lines.append(f"- Any channel count takes them (the first convolution is adapted) and a new `classes` "
                 f"keeps the trained base: `zoo.{info['name']}(weights=..., input_shape=..., classes=...)`.")
    return lines


def _features(info: dict) -> list[str]:
    lines = [f"`zoo.{info['name']}(features_only=True)` returns these maps (`out_indices` picks some); "
             "`zoo.feature_extractor(model)` taps them in any instance:", "",
             "| index | layer | channels | reduction (stride) |", "| --- | --- | --- | --- |"]
    for f in info["feature_info"]:
        lines.append(f"| {f['index']} | `{f['layer']}` | {f['channels']} | {f['reduction']:g} |")
    return lines


def weights_table() -> str:
    """The Markdown table of every weight set, from their records (README, docs/models.md)."""
    lines = ["| model | `weights=` | top-1 | test records | trained on | file | measured on |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in list_models(pretrained=True):
        for tag, record in model_info(name)["weights"].items():
            test = record["metrics"]["test"]
            size = f"{record['size'] / 1e6:.2f} MB, shipped" if record["file"] else "downloaded"
            machine = record["metrics"].get("machine") or "published by keras.applications"
            lines.append(f"| {name} | `{tag!r}` | {test['top1']:.2%} | {test['records']:,} | "
                         f"{record['train_records']:,} images | {size} | {machine} |")
    return "\n".join(lines) + "\n"


def model_card(name: str) -> str:
    """The Markdown model card of a registered model.

    Examples:

        >>> model_card("mnist_convnet").splitlines()[0]
        '# mnist_convnet'
    """
    info = model_info(name)
    lines = [
        f"# {name}", "",
        _description(name), "",
        f"Default build: input {'x'.join(map(str, info['input_shape']))}, {info['classes']} classes, "
        f"{info['params']:,} parameters ({info['trainable_params']:,} trainable), "
        f"{format_count(info['flops'])} FLOPs per image; pretrained weights: {', '.join(info['pretrained']) or 'none'}.",
        "", "```python", "import zoo", f"model = zoo.{name}()  # or zoo.create_model({name!r}, ...)", "```",
        "", "## Measured", "", *_measured(info["measured"]),
        "", "## Weights", "", *_weights(info),
        "", "## Features", "", *_features(info),
        "", "## Arguments", "", *_arguments(name),
        "", "## Recipe", "", *_recipe(name),
    ]
    if name in tuning.SEARCH_SPACES:
        lines += ["", "## Search space", "", f"`zoo tune {name}`, or `zoo.hypermodel({name!r})` from Python:", "",
                  *_search_space(name)]
    lines += ["", "## Architecture", "", "The default build, layer by layer:", "", *_architecture(name)]
    return "\n".join(lines) + "\n"
