"""An instructor's conftest.py that deselects a check of its own folder (``*_dropped``) at
collection. Named otherwise here, or the suite would load it as a conftest of its own (and its
module would shadow tests/conftest.py): the test copies the folder and names it conftest.py."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    drop = [it for it in items if Path(str(it.path)).resolve().parent == HERE and it.name.endswith("_dropped")]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [it for it in items if it not in drop]
