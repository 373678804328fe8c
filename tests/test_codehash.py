"""code_hash over a model's own module and the shared modules it imports (msaflow.codehash.with_imports)."""

from msaflow.codehash import code_hash, with_imports


def _package(root):
    pkg = root / "msaflow"
    (pkg / "models").mkdir(parents=True)
    files = {
        "common.py": "X = 1\n",
        "encoders.py": "E = 1\n",
        "models/__init__.py": "from msaflow.models.registry import ARCHITECTURES\n",
        "models/registry.py": "ARCHITECTURES = {'a': 'msaflow.models.a:A', 'b': 'msaflow.models.b:B'}\n",
        "models/blocks.py": "import math\n",
        "models/base.py": "from msaflow.models.blocks import x\n\ndef f():\n    from msaflow.encoders import load\n",
        "models/a.py": "from .base import Base\nfrom msaflow.models import blocks\n",
        "models/b.py": "import msaflow.models.blocks\nimport torch\n",
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    return pkg


def test_with_imports_follows_package_imports_transitively(tmp_path):
    pkg = _package(tmp_path)
    assert with_imports("models/a.py", package_dir=pkg) == [
        "encoders.py", "models/a.py", "models/base.py", "models/blocks.py"]
    assert with_imports("models/b.py", package_dir=pkg) == ["models/b.py", "models/blocks.py"]


def test_editing_one_model_changes_only_its_hash(tmp_path):
    pkg = _package(tmp_path)

    def hashes():
        return {m: code_hash(*with_imports(f"models/{m}.py", package_dir=pkg), package_dir=pkg) for m in "ab"}

    before = hashes()
    (pkg / "models/a.py").write_text((pkg / "models/a.py").read_text() + "# edit\n")
    after_a = hashes()
    assert after_a["a"] != before["a"] and after_a["b"] == before["b"]
    (pkg / "models/registry.py").write_text("ARCHITECTURES = {}\n")  # e.g. a model added
    assert hashes() == after_a
    (pkg / "models/blocks.py").write_text("import math  # shared block edited\n")
    after_blocks = hashes()
    assert after_blocks["a"] != after_a["a"] and after_blocks["b"] != after_a["b"]
