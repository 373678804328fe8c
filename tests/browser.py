"""Open an HTML file in headless Chromium (Debian package `chromium`): layout numbers and a screenshot.

No browser driver: a copy of the page gets a small script that records errors and, on load, the
size of every section and figure into a <pre>; `--dump-dom` prints the DOM after load. The page
itself (the report) has no script.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

CHECKER = """<script>
window.__msaflowErrors = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  window.__msaflowErrors.push(String(e.message || ('failed to load ' + (t.id || t.tagName || '') + ' ' + String(t.src || '').slice(0, 40))));
}, true);
var __origError = console.error;
console.error = function () { window.__msaflowErrors.push(Array.prototype.join.call(arguments, ' ')); __origError.apply(console, arguments); };
window.addEventListener('load', function () {
  var out = {errors: window.__msaflowErrors, height: document.documentElement.scrollHeight, sections: {}, figures: {}};
  document.querySelectorAll('section.top').forEach(function (s) { var r = s.getBoundingClientRect(); out.sections[s.id] = [r.width, r.height, r.top + window.scrollY]; });
  document.querySelectorAll('figure.fig').forEach(function (f) {
    var img = f.querySelector('img'); var r = img.getBoundingClientRect();
    out.figures[f.id] = [r.width, r.height, img.naturalWidth, img.naturalHeight, img.complete];
  });
  var pre = document.createElement('pre'); pre.id = 'msaflow-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""

WIDTH = 1400


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], profile: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def inspect(page: Path, workdir: Path) -> dict:
    """Errors, page height, [width, height, top] per section id, [w, h, natural w, natural h, complete] per figure id,
    and the browser's console lines (`console`)."""
    text = page.read_text(encoding="utf-8")
    checked = workdir / f"{page.stem}.check.html"
    checked.write_text(re.sub(r"<head>", "<head>" + CHECKER, text, count=1), encoding="utf-8")
    done = _run([f"--window-size={WIDTH},1000", "--virtual-time-budget=15000", "--dump-dom", checked.resolve().as_uri()],
                workdir / "profile-dom")
    match = re.search(r'<pre id="msaflow-check">(.*?)</pre>', done.stdout, re.S)
    if not match:
        raise AssertionError(f"chromium gave no check output (exit {done.returncode}):\n{done.stderr[-3000:]}")
    out = json.loads(html.unescape(match.group(1)))
    out["console"] = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return out


def screenshot(page: Path, png: Path, height: int, workdir: Path) -> Path:
    """A full-page PNG screenshot (window as tall as the page)."""
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _run([f"--window-size={WIDTH},{max(600, min(int(height) + 20, 30000))}", f"--screenshot={png.resolve()}",
                 page.resolve().as_uri()], workdir / "profile-shot")
    if not png.exists() or png.stat().st_size == 0:
        raise AssertionError(f"chromium wrote no screenshot (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return png
