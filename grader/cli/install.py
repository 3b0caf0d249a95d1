"""How the recipes install torch on a grading machine (the Gradescope image, the GitHub Classroom
runner): the CPU wheels, pinned to the version installed here. See ``docs/ci-recipes.md``."""

from __future__ import annotations

from importlib.metadata import version

# Where pip gets torch: the CPU build (these machines have no GPU; the CUDA wheels are gigabytes).
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def torch_requirement() -> str:
    """The pip requirement for the torch installed here, without its local build tag
    (``2.5.1+cpu`` → ``torch==2.5.1``)."""
    return "torch==" + version("torch").split("+", 1)[0]
