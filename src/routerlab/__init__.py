"""routerlab: LLM routing research, from datasets to the papers' metric tables."""

__version__ = "0.1.0"
