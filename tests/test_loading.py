"""Submission loading: every error kind is reported per hook, and the rest is still graded."""

HOOKS = ["mlp", "nest_mlp", "fixed_hidden_mlp", "chimera", "block1", "my_sequential", "lazy_mlp"]


def test_each_loading_problem_is_reported_on_its_hook(grade, submissions):
    r = grade(submissions / "loading" / "mixed", only=HOOKS)
    # Correct hooks in the same submission are graded normally, one from a sub-package
    # and renamed with grader.hookimpl(specname=...).
    assert r.status("nest_mlp") == "passed"
    assert r.status("mlp") == "passed"

    h = r.hook("fixed_hidden_mlp")
    assert h["status"] == "error"
    assert "broken.py" in h["message"] and "NameError" in h["message"] and "line 8" in h["message"]

    h = r.hook("chimera")
    assert h["status"] == "error"
    assert (
        "wrong number of arguments" in h["message"]
        and "chimera(depth)" in h["message"]
        and "expected chimera()" in h["message"]
    )

    h = r.hook("block1")
    assert h["status"] == "error"
    assert "dup_a.py" in h["message"] and "dup_b.py" in h["message"]

    assert r.status("my_sequential") == "not_attempted"
    assert "did you mean `my_sequential`" in r.hook("my_sequential")["message"]
    assert any("did you mean `my_sequential`? (found `my_sequental` in good.py)" in w for w in r["warnings"])

    h = r.hook("lazy_mlp")
    assert h["status"] == "not_attempted"
    assert "NotImplementedError" in h["message"]


def test_private_names_are_never_hooks(grade, submissions):
    r = grade(submissions / "loading" / "mixed", only=["block1"])
    assert "_block1" not in str(r["warnings"])


def test_hooks_not_defined_anywhere_are_not_attempted(grade, submissions):
    r = grade(submissions / "loading" / "mixed", only=["replicate"])
    h = r.hook("replicate")
    assert h["status"] == "not_attempted"
    assert h["score"] == 0


def test_a_submission_whose_files_are_one_folder_down_is_told_so(grade, submissions, tmp_path):
    nothing = "no Python module, notebook or notes at the top level"
    r = grade(submissions / "loading" / "nested", only=["mlp"])
    assert r.status("mlp") == "not_attempted"
    assert nothing in r["warnings"][0]
    assert "one folder down, in `hw/`" in r["warnings"][0]
    assert (
        grade(submissions / "loading" / "nested" / "hw", only=["mlp"]).status("mlp") == "passed"
    )  # the folder, graded
    # An empty submission is told only the first half; one with modules, nothing of it.
    empty = tmp_path / "empty"
    empty.mkdir()
    told = grade(empty, only=["mlp"])["warnings"][0]
    assert nothing in told and "folder down" not in told
    assert not any(nothing in w for w in grade(submissions / "loading" / "mixed", only=["mlp"])["warnings"])
    # A notebook one folder down is found too.
    (tmp_path / "zipped" / "hw").mkdir(parents=True)
    (tmp_path / "zipped" / "hw" / "work.ipynb").write_text("{}")
    assert "one folder down, in `hw/`" in grade(tmp_path / "zipped", only=["mlp"])["warnings"][0]
