import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def require_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"tests need {', '.join(missing)} on PATH (make test installs them)")


@pytest.fixture
def speech_wav(tmp_path):
    """A short espeak-ng utterance (22.05 kHz mono) to build media files from."""
    require_tools("espeak-ng")
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), "the movie was wonderful"], check=True)
    return path


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)
