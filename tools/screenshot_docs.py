"""Photographs the built documentation site in headless Chromium.

Serves the site on localhost (search and navigation need HTTP, not
file://) and writes a PNG of the home page, a model card and an API page,
to look at before calling the site done.

    make docs && python tools/screenshot_docs.py site OUT_DIR

Needs Debian's `chromium` package (`apt-get install chromium`).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

PAGES = {"home": "", "model_card": "models/cifar10_net/", "api": "api/features/"}
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def main(site: str, out: str) -> None:
    browser = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    if browser is None:
        sys.exit("screenshot_docs: no Chromium found; install it with `apt-get install chromium`")
    if not (Path(site) / "index.html").is_file():
        sys.exit(f"screenshot_docs: no built site in {site!r}; run `make docs` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=site)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Path(out).mkdir(parents=True, exist_ok=True)
    try:
        for name, page in PAGES.items():
            png = Path(out) / f"{name}.png"
            url = f"http://127.0.0.1:{server.server_port}/{page}"
            subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            "--window-size=1280,1600", f"--screenshot={png}", url],
                           check=True, capture_output=True, timeout=120)
            print(f"{png}: {url}")
    finally:
        server.shutdown()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
