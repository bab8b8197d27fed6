"""Rewrites the documentation that is generated from code and recorded results.

- docs/models/NAME.md: each model's card (`zoo info NAME --markdown`);
- docs/models.md and the README: the `zoo list` tables and the weights table;
- docs/tuning.md: the search-space table;
- docs/benchmarks/training.md, export.md and backends.md: the recorded
  figures of every kind of machine.

Run it after a benchmark records new figures; tests/test_docs.py fails while
any of these is stale.

    python tools/make_docs.py
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def replace_block(pages: dict, path: Path, begin: str, end: str, text: str) -> None:
    """Replaces a block of `path` in `pages` (new texts by path, read from disk at first)."""
    page = pages[path] if path in pages else path.read_text()
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(page):
        sys.exit(f"make_docs: no {begin!r} ... {end!r} block in {path}; nothing was rewritten")
    pages[path] = pattern.sub(lambda _: f"{begin}\n{text}{end}", page)


def zoo(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "100"}
    zoo_script = Path(sys.executable).with_name("zoo")
    done = subprocess.run([str(zoo_script), *args], capture_output=True, text=True, env=env, check=True)
    return done.stdout


def main():
    from zoo import list_models, tuning
    from zoo.modelcard import model_card, weights_table

    # Every page is made before any is written: a missing block leaves them all as they were.
    pages = {}
    cards = ROOT / "docs" / "models"
    for name in list_models():
        pages[cards / f"{name}.md"] = model_card(name)
    replace_block(pages, ROOT / "docs" / "models.md", "<!-- begin: zoo list --markdown -->",
                  "<!-- end: zoo list --markdown -->", zoo("list", "--markdown"))
    replace_block(pages, ROOT / "README.md", "$ zoo list", "```", zoo("list"))
    for page in (ROOT / "README.md", ROOT / "docs" / "models.md"):
        replace_block(pages, page, "<!-- weights table: written by tools/make_docs.py from zoo/weights/*.json -->",
                      "<!-- end weights table -->", weights_table())
    replace_block(pages, ROOT / "docs" / "tuning.md", "<!-- begin: search spaces -->",
                  "<!-- end: search spaces -->", tuning.search_space_markdown())
    # The benchmark pages list every kind of machine recorded in zoo/results.json.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import benchmark_backends
    import benchmark_export
    import benchmark_training

    results = json.loads((ROOT / "zoo" / "results.json").read_text())
    models = results["models"]
    benchmark_pages = [("training.md", benchmark_training.page_lines(models)),
                       ("export.md", benchmark_export.page_lines(models))]
    if "backends" in results:
        benchmark_pages.append(("backends.md", benchmark_backends.page_lines(results["backends"])))
    for page, lines in benchmark_pages:
        pages[ROOT / "docs" / "benchmarks" / page] = "\n".join(lines) + "\n"
    cards.mkdir(parents=True, exist_ok=True)
    for path, text in pages.items():
        path.write_text(text)
    print("rewrote docs/models/*.md, docs/models.md, docs/tuning.md, docs/benchmarks/{training,export,backends}.md "
          "and the README's zoo list")


if __name__ == "__main__":
    main()
