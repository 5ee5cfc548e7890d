from snakemake.utils import min_version, validate

min_version("9.20")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/uncertainty.smk"
include: "workflow/rules/routers.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/token_router.smk"
include: "workflow/rules/kmodel.smk"
include: "workflow/rules/leaderboard.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
