"""The chapter's checks: pytest modules (``test_<section>.py``) run by the grader in the trusted
process, and their helpers (``_*.py``). A package so that it ships in the wheel."""
