"""Fixture plugin the grader must refuse: it fails at import."""

raise RuntimeError("this plugin is broken")
