"""Course content that ships with the grader, one package per course (kept apart from the
harness in ``grader/`` so another course can sit beside it, or come as its own plugin).
Installed as ``grader.exercises``, under the grader's namespace."""
