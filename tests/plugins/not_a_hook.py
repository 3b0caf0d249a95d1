"""Fixture plugin the grader must refuse: a grader_* function that is no hook at all."""


def grader_helper():
    return None
