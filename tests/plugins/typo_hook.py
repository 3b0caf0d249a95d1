"""Fixture plugin the grader must refuse: a misspelled hook name."""


def grader_tolerence(hook, check, dtype, device):
    return None
