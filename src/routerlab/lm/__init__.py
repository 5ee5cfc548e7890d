"""The language-model trunk: model specs and materialisation, prompts, sampling parameters, generation
backends (transformers, vLLM, OpenAI-compatible), the encoder, sentence embeddings, the LLM judge and
the OpenAI-compatible server."""
