"""A fixture exercise with train/eval behaviour and running statistics (batch normalization):
its section (``spec``) and reference (``reference``), for the plugin guide's running-statistics
check module, which ``tests/test_docs.py`` runs on ``tests/submissions/batch_norm``."""
