"""The packages the grader installs (everything else is in pyproject.toml).

The course content keeps its folders beside the harness (``grader run reference/`` grades the
reference as a submission, its files imported as top-level modules) and installs under the
grader's namespace, where no other distribution's top-level ``reference`` or ``exercises`` can
collide with it: ``reference/`` as ``grader.reference``, ``exercises/`` as ``grader.exercises``.
pyproject.toml cannot say this on its own: ``packages.find`` names packages after their folders.
"""

from setuptools import find_packages, setup

CONTENT = {"grader.reference": "reference", "grader.exercises": "exercises"}

packages = find_packages(include=["grader", "grader.*"])
for name, folder in CONTENT.items():
    packages += [name + sub.removeprefix(folder) for sub in find_packages(include=[folder, folder + ".*"])]

setup(packages=packages, package_dir=CONTENT)
