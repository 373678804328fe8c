"""A job killed mid-write (SIGKILL: no clean-up runs) leaves temporary files; the stage removes
those of its own outputs when it starts again (msaflow.common.remove_stale_temps via msaflow.cli)."""

import subprocess
import sys

from msaflow.cli import main as cli_main
from msaflow.common import remove_stale_temps, write_tsv
from msaflow.corpus import MANIFEST_COLUMNS

KILLED_WRITE = """
import os, signal, sys
from msaflow.common import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("half a table")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_stage_removes_what_a_killed_run_left(tmp_path, capsys):
    manifest, out = tmp_path / "manifest.tsv", tmp_path / "shards" / "s000.tsv"
    write_tsv(manifest, MANIFEST_COLUMNS, [["v$_$1", "v", "1", "t", "1", "", "train", "s000", "v/1.wav", "", ""]])
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(out)], capture_output=True)
    assert killed.returncode == -9
    (left,) = out.parent.glob(".s000.tsv.*.tmp")
    assert cli_main(["shard", "--manifest", str(manifest), "--shard", "s000", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["s000.tsv"]
    assert f"removed {left}, left by an interrupted run" in capsys.readouterr().err


def test_remove_stale_temps_takes_only_the_outputs_leftovers(tmp_path):
    out_dir = tmp_path / "audio" / "s000"
    out_dir.mkdir(parents=True)
    staging = tmp_path / "audio" / ".s000.k3j_x9q2"  # tempfile.mkdtemp(prefix=".s000.")
    staging.mkdir()
    (staging / "a.wav").write_bytes(b"x")
    inside = out_dir / ".run.json.abc.json.tmp"
    inside.write_text("x")
    keep = [tmp_path / "audio" / ".s000.qc.tsv.lock", tmp_path / "audio" / ".s001.abcd1234.tmp", out_dir / "a.wav",
            tmp_path / "audio" / ".s000.notatemp"]
    for path in keep:
        path.write_text("keep")
    assert sorted(remove_stale_temps(out_dir)) == sorted([staging, inside])
    assert all(path.exists() for path in keep) and not staging.exists() and not inside.exists()
    assert remove_stale_temps(tmp_path / "missing" / "x.tsv") == []
