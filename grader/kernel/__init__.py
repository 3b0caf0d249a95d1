"""``%grade`` in a notebook: the kernel's side of grading.

- ``magic``: the IPython extension (``%load_ext grader``, ``%grade``); the only module here that
  imports IPython, loaded only by ``grader.load_ipython_extension``;
- ``session``: the kernel's warm grading process, fed the cells of the kernel's history.

The kernel only sends cells and shows what comes back: the reference, the checks and the
verdicts stay in the grading process, student code runs in its confined workers.
"""
