"""The setup check every notebook opens with."""

from course_lib.runtime import check as sc


def test_reports_no_problem_on_a_complete_install(capsys):
    result = sc.setup_check()
    out = capsys.readouterr().out
    assert result["problems"] == [] and "All set." in out
    assert result["model"] is not None and result["model"].exists()


def test_a_missing_or_old_package_is_a_friendly_line(monkeypatch):
    versions = dict(sc.package_versions(), gguf=None, numpy="1.2.0")
    monkeypatch.setattr(sc, "package_versions", lambda: versions)
    problems = sc.problems()
    assert any(p.startswith("gguf is not installed") for p in problems)
    assert any(p.startswith("numpy 1.2.0 is older than") for p in problems)


def test_version_parsing():
    assert sc._version_tuple("0.3.16") < sc._version_tuple("0.3.36")
    assert sc._version_tuple("2.4.6rc1") == (2, 4, 6)
