"""Rule table_xbench_ablation_layers: probe fusion variants (mean, Dirichlet, single layers)."""

from routerlab.pipeline import setup_logging
from routerlab.tables import ablation_table, collect_runs, write_table_files

log = setup_logging(snakemake.log[0])
table = ablation_table(collect_runs(snakemake.input.metrics), snakemake.params.routers)
notes = ["- Probe routers of the config (kinds mean_probe, layer_probe, dirichlet_probe) on the weak model's "
         "per-layer hidden states; mean ± std over seeds."]
if table.empty:
    notes.append("- No probe router is configured: add e.g. `probe_last: {kind: layer_probe, params: {layer: -1}}`.")
write_table_files(table, snakemake.output.md, snakemake.output.csv, snakemake.output.tex,
                  title="Probe fusion ablation (test splits)", notes=notes)
log.info("wrote %d variants", len(table))
