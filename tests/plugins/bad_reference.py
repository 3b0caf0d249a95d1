"""Fixture plugin the grader must refuse: a reference whose ``layer_norm`` (the example
plugin's exercise) takes an argument the exercise hook does not provide."""

import types

reference = types.ModuleType("bad_layer_norm_reference")


def _layer_norm(features, epsilon):
    raise AssertionError("never called: the plugin is refused at load time")


reference.layer_norm = _layer_norm
_layer_norm.__name__ = "layer_norm"


def grader_reference():
    return [reference]
