# msaflow: media -> audio -> alignment -> acoustic (and visual) features -> word averages -> tokens -> training -> results.
# Rules are thin; every stage is `msaflow <stage> ...` (see src/msaflow/stages/).
from snakemake.utils import min_version, validate

min_version("8.0")

configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/manifest.smk"
include: "workflow/rules/sdk.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/acoustic.smk"
include: "workflow/rules/visual.smk"
include: "workflow/rules/words.smk"
include: "workflow/rules/tokens.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    input:
        default_targets(),
    default_target: True
