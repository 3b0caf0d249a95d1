"""The trusted side: everything here runs in the process that decides verdicts.

No student code is ever imported into this process. It holds the run's seed, the reference,
the checks, the comparisons and the report writers, and talks to workers only through
``grader.worker.wire`` frames.
"""
