"""Rule kmodel_outcomes: the long outcome table of one source (our pipeline or an imported file), with its split:
the import's train / validation / test files (roles), or RouterEval's 80/10/10 split."""

from pathlib import Path

from routerlab.core.runtime import setup_logging
from routerlab.kmodel.importers_roles import read_import, summary
from routerlab.kmodel.outcomes import from_pipeline
from routerlab.kmodel.pools import assign_split

log = setup_logging(snakemake.log[0])
spec = snakemake.params.spec
if spec["format"] == "pipeline":
    # Inputs come in models x datasets order (common.smk: kmodel_outcome_inputs).
    pairs = [(m, d) for m in spec["models"] for d in spec["datasets"]]
    out = from_pipeline(dict(zip(spec["datasets"], snakemake.input.data)), dict(zip(pairs, snakemake.input.scores)),
                        dict(zip(pairs, snakemake.input.generations)), spec["prices"], on_missing=spec["on_missing"])
    out.queries = assign_split(out.queries, spec["split_seed"])
    out.meta["split"] = "random 80/10/10 within each dataset"
else:
    out = read_import(spec["format"], snakemake.params.reading, on_missing=spec["on_missing"], seed=spec["split_seed"])
out.meta["source"] = snakemake.wildcards.source
log.info("%s: %d queries x %d models (%d rows); %s", snakemake.wildcards.source, len(out.queries), len(out.models),
         len(out.table), summary(out))
log.info("meta: %s", out.meta)
out.save(Path(snakemake.output.outcomes).parent)  # outcomes.parquet + queries.parquet
