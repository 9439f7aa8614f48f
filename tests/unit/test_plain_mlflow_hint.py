"""How plain MLflow finds pilotscope's runs: the guide's folder links the store, the summary says the rest."""
from __future__ import annotations

import os

from pilotscope.Common.tracking_store import (GUIDE_FOLDERS, TRACKING_URI_ENV, export_line, link_guide_folders, main,
                                              plain_mlflow_hint, tracking_uri)
from pilotscope.paths import PROJECT_ROOT


def test_each_guide_folder_gets_a_link_to_the_store_and_a_file_of_that_name_is_kept(tmp_path):
    database = tmp_path / "mlflow.db"
    for name in GUIDE_FOLDERS:
        (tmp_path / name).mkdir()
    link_guide_folders(database)
    for name in GUIDE_FOLDERS:
        link = tmp_path / name / "mlflow.db"
        assert link.is_symlink() and os.readlink(link) == "../mlflow.db"
        link.unlink()
        link.write_text("a user's own store")  # never replaced
    link_guide_folders(database)
    assert all((tmp_path / name / "mlflow.db").read_text() == "a user's own store" for name in GUIDE_FOLDERS)


def test_the_project_store_links_its_guide_folders_once_resolved(monkeypatch):
    monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
    tracking_uri()
    for name in GUIDE_FOLDERS:
        link = PROJECT_ROOT / name / "mlflow.db"
        assert os.path.normpath(link.parent / os.readlink(link)) == str(PROJECT_ROOT / "mlflow.db")


def test_a_missing_guide_folder_is_not_created(tmp_path):
    link_guide_folders(tmp_path / "mlflow.db")
    assert list(tmp_path.iterdir()) == []


def test_without_the_variable_the_hint_names_the_store_the_folders_and_the_export(monkeypatch):
    monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
    uri = f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    assert plain_mlflow_hint() == (f"MLflow runs: {uri}; plain MLflow finds them from {PROJECT_ROOT} and "
                                   f"test_example_algorithms/; elsewhere: export MLFLOW_TRACKING_URI={uri}")


def test_with_the_variable_the_hint_says_plain_mlflow_reads_it_and_hides_a_password(monkeypatch):
    monkeypatch.setenv(TRACKING_URI_ENV, "http://me:s3cret@mlflow.example:5000")
    hint = plain_mlflow_hint()
    assert hint == "MLflow runs: http://me:***@mlflow.example:5000, from MLFLOW_TRACKING_URI, which plain MLflow reads too"


def test_the_export_line_quotes_for_the_shell(monkeypatch, capsys):
    assert export_line("sqlite:////tmp/a b/mlflow.db") == "export MLFLOW_TRACKING_URI='sqlite:////tmp/a b/mlflow.db'"
    monkeypatch.setenv(TRACKING_URI_ENV, "sqlite:////tmp/x.db")
    assert main(["--export"]) == 0
    assert capsys.readouterr().out == "export MLFLOW_TRACKING_URI=sqlite:////tmp/x.db\n"
