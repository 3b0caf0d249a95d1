"""Fixture plugin the grader must refuse: an argument the hook does not provide."""


def grader_points(hook, name):
    return None
