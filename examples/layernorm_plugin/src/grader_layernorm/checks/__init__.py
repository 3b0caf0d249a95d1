"""The ``layer_norm`` exercise's checks (pytest modules, returned by ``grader_checks``)."""
