# msaflow: media -> audio -> alignment -> acoustic (and visual) features -> word averages (-> exports) -> tokens -> training -> results
# -> report.
# Rules are thin; every stage is `msaflow <stage> ...` (see src/msaflow/stages/).
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")

configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# Validated (and defaults filled in) by Snakemake; a bad key or value stops the run with only the
# key, its section and the allowed keys (no schema dump, no traceback).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from msaflow.workflow_support import config_error  # noqa: E402

if error := config_error(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"):
    sys.exit(error)


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/manifest.smk"
include: "workflow/rules/sdk.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/acoustic.smk"
include: "workflow/rules/visual.smk"
include: "workflow/rules/words.smk"
include: "workflow/rules/exports.smk"
include: "workflow/rules/tokens.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        default_targets(),
    default_target: True
