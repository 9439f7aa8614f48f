"""PilotScope's controller-side API without a server: enums, exception names, Index, the factory's
config identity, row shapes, and what deep control refuses before touching any server."""
from __future__ import annotations

import enum

import pandas
import pytest

from pilotscope import errors
from pilotscope.Common.Index import Index
from pilotscope.DBController.PostgreSQLController import _row_type
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.Exception import Exception as upstream_errors
from pilotscope.Factory.DBControllerFactory import DBControllerFactory
from pilotscope.Factory.DBControllerFectory import DBControllerFactory as MisspelledFactory
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotEnum import DatabaseEnum, PilotEnum, ScanJoinMethodEnum

PASSWORD = "s3cret-Pw"


def test_both_spellings_of_the_factory_module_give_one_factory():
    assert MisspelledFactory is DBControllerFactory


def test_an_enum_member_equals_its_twin_from_a_second_import_of_its_module():
    # what a module imported twice under two names produces: a distinct class of the same name
    twin = PilotEnum("DatabaseEnum", {"POSTGRESQL": 0, "SPARK": 1})
    assert twin.POSTGRESQL == DatabaseEnum.POSTGRESQL and hash(twin.POSTGRESQL) == hash(DatabaseEnum.POSTGRESQL)
    assert twin.SPARK != DatabaseEnum.POSTGRESQL
    other_kind = PilotEnum("SparkSQLDataSourceEnum", {"POSTGRESQL": "postgresql"})
    assert other_kind.POSTGRESQL != DatabaseEnum.POSTGRESQL  # same member name, another enum
    assert DatabaseEnum.POSTGRESQL != enum.Enum("DatabaseEnum", {"POSTGRESQL": 0}).POSTGRESQL
    assert ScanJoinMethodEnum.JOINORDER.value == "Leading"


def test_a_postgresql_config_says_it_is_postgresql():
    assert PostgreSQLConfig().db_type == DatabaseEnum.POSTGRESQL


@pytest.mark.parametrize("name, ours", [
    ("DBStatementTimeoutException", errors.PilotScopeError),
    ("InteractorReceiveTimeoutException", errors.PilotScopeError),
    ("DatabaseCrashException", errors.DatabaseUnreachableError),
    ("DatabaseDeepControlException", errors.ConfigurationError),
    ("DatabaseStartException", errors.ServerStartError),
    ("PilotScopeInternalError", errors.PilotScopeError),
    ("PilotScopeMutualExclusionException", errors.ConfigurationError),
    ("PilotScopeNotSupportedOperationException", errors.PilotScopeError),
    ("PilotScopeExecCommandException", errors.PilotScopeError),
])
def test_upstream_exception_names_belong_to_our_hierarchy(name, ours):
    cls = getattr(upstream_errors, name)
    argument = ["a", "b"] if name == "PilotScopeMutualExclusionException" else "detail"
    error = cls(argument)
    assert isinstance(error, ours) and str(error)


def test_an_index_is_its_table_and_ordered_columns_whatever_its_name():
    index = Index(["userid", "date"], "badges", index_name="mine")
    assert index == Index(("userid", "date"), "badges") and hash(index) == hash(Index(["userid", "date"], "badges"))
    assert index != Index(["date", "userid"], "badges") and index != Index(["userid", "date"], "posts")
    assert repr(Index(["userid"], "badges")) == "badges: userid"
    assert index.get_index_name() == "mine" and Index(["a", "b"], "t").get_index_name() == "t_a_b_idx"
    assert sorted([index, Index(["id"], "users")])[0] == Index(["id"], "users")  # narrower first


@pytest.mark.parametrize("columns", [[], "userid"])
def test_an_index_needs_a_list_of_columns(columns):
    with pytest.raises(ValueError, match="at least one column"):
        Index(columns, "badges")


def test_equal_configs_share_a_controller_identity_and_it_shows_no_password():
    one = PostgreSQLConfig(db="d", host="db.example", user="me", pwd=PASSWORD)
    same = PostgreSQLConfig(db="d", host="db.example", user="me", pwd=PASSWORD)
    identity = DBControllerFactory._get_identifier(one)
    assert identity == DBControllerFactory._get_identifier(same)
    assert PASSWORD not in identity
    assert identity != DBControllerFactory._get_identifier(one, enable_simulate_index=True)
    assert identity != DBControllerFactory._get_identifier(
        PostgreSQLConfig(db="d", host="db.example", user="me", pwd="another"))
    same.db = "other"
    assert identity != DBControllerFactory._get_identifier(same)


def test_rows_are_tuples_whose_column_names_pandas_takes_even_when_repeated_or_not_identifiers():
    row = _row_type(("id", "id", "count(*)", "class"))
    values = row._make((1, 2, 3, 4))
    assert values == (1, 2, 3, 4) and values.id == 1
    frame = pandas.DataFrame([values])
    assert list(frame.columns)[0] == "id" and frame.iloc[0].tolist() == [1, 2, 3, 4]


def test_deep_control_refuses_an_external_server():
    config = PostgreSQLConfig(host="db.example", pwd=PASSWORD)
    with pytest.raises(errors.ConfigurationError, match="embedded server only"):
        config.enable_deep_control_local()
    with pytest.raises(errors.ConfigurationError, match="not supported"):
        config.enable_deep_control_remote("/bin", "/data", "me", PASSWORD, 22)
    assert not config._enable_deep_control


@pytest.mark.parametrize("argument", ["pg_bin_path", "pg_data_path"])
def test_deep_control_refuses_any_cluster_but_the_embedded_one(argument, tmp_path):
    config = PostgreSQLConfig()
    with pytest.raises(errors.ConfigurationError, match=f"{argument}=.*not the embedded server's"):
        config.enable_deep_control_local(**{argument: str(tmp_path)})
    assert not config._enable_deep_control


def test_the_examples_point_deep_control_at_the_embedded_server():
    from algorithm_examples.ExampleConfig import example_pg_bin, example_pgdata
    from pilotscope.extension_installer import pg_installation
    assert example_pgdata == str(EmbeddedServer().data_dir)
    assert example_pg_bin == str(pg_installation().bindir)
