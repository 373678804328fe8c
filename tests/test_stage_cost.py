"""Each pipeline stage ends its log with its cost, child processes included, and the machine's load."""

import re
import subprocess
import sys
from pathlib import Path

from msaflow.common import write_tsv
from msaflow.corpus import MANIFEST_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def test_audio_stage_cost_counts_ffmpeg(tmp_path, speech_wav):
    rows = [[f"v$_$1{i}", "v", f"1{i}", "t", "1", "", "train", "s000", str(speech_wav), "", ""] for i in range(3)]
    write_tsv(tmp_path / "s000.tsv", MANIFEST_COLUMNS, rows)
    result = subprocess.run([sys.executable, "-m", "msaflow", "audio", "--shard-manifest", str(tmp_path / "s000.tsv"),
                             "--out-dir", str(tmp_path / "s000"), "--qc", str(tmp_path / "s000.qc.tsv")],
                            capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    m = re.fullmatch(r"msaflow audio: ([\d.]+) s wall, ([\d.]+) CPU s \(([\d.]+) in child processes\); "
                     r"load average [\d.]+ [\d.]+ [\d.]+ on \d+ CPUs", last)
    assert m, last
    assert float(m.group(3)) > 0  # the three ffmpeg runs
    assert float(m.group(2)) >= float(m.group(3))
