"""The reference for the ``layer_norm`` exercise. ``layer_norm.py`` is self-contained, so this
folder is also a valid submission: grading it gives full marks."""
