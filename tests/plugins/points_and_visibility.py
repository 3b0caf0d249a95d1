"""Fixture plugin: a hook's total points, a hidden check and a hook shown after the due date."""


def grader_points(hook, check):
    if hook == "layer_norm" and check is None:
        return 10  # the example plugin's own weights (3, 2, 1, 1, 1) are scaled to 10
    return None


def grader_visibility(hook, check):
    if hook == "layer_norm" and check == "eps":
        return "hidden"
    if hook == "mlp" and check is None:
        return "after_due_date"
    return None
