#!/usr/bin/env bash
# Build the throw-away virtualenvs of peer frameworks whose loaders our exports must satisfy
# (today: MMSA 2.2.1 from PyPI). Idempotent: a venv whose stamp is newer than its pin file is kept.
#   scripts/peer-venvs.sh [DEST]      DEST defaults to .venv-peers
# torch is installed first, alone, pinned as in requirements.lock (the local CPU wheel), so that
# the peer's own requirements never pull a CUDA build; the rest installs with that torch fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.venv-peers}"
python="${PYTHON:-python3}"
torch_pin="$(grep -E '^torch==' requirements.lock)"
for pins in envs/peers/*.txt; do
  name="$(basename "$pins" .txt)"
  venv="$dest/$name"
  stamp="$venv/.installed"
  if [ -f "$stamp" ] && [ "$stamp" -nt "$pins" ] && [ "$stamp" -nt requirements.lock ]; then
    continue
  fi
  echo "peer venv $venv: installing $torch_pin, then $pins"
  test -x "$venv/bin/python" || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "$torch_pin"
  constraints="$(mktemp)"
  "$venv/bin/python" -m pip freeze | grep -iE '^torch==' > "$constraints"
  "$venv/bin/python" -m pip install -q -r "$pins" -c "$constraints"
  rm -f "$constraints"
  "$venv/bin/python" -c "import torch; assert not torch.version.cuda, torch.version.cuda"
  touch "$stamp"
done
