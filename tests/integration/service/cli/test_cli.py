"""The ``tracecert`` command line against a real database (the chain is offline here)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.identity.app.organisations import authenticate
from service.identity.domain.errors import InvalidApiKeyError
from service.kernel.roles import Role
from service.kernel.storage.db import make_engine, migrate, schema_revision
from service.ledger.storage.commitments import leaf_hash
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory

PEPPER = "cli-test-pepper-0123456789"


@pytest.fixture
def env(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACECERT_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRACECERT_API_KEY_PEPPER", PEPPER)
    # A managed anvil that is not running: database-only commands must not need the chain.
    monkeypatch.setenv("CHAIN_BACKEND", "anvil")
    monkeypatch.setenv("CHAIN_ANVIL_PORT", "1")
    monkeypatch.setenv("CHAIN_REQUEST_TIMEOUT_S", "0.5")
    engine = make_engine(database_url)
    yield SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
    engine.dispose()


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def test_admin_create_prints_a_working_admin_key_once(env):
    result = invoke("admin", "create", "--name", "Platform")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    actor = authenticate(env(), PEPPER.encode(), key)
    assert actor.role is Role.ADMIN
    with env() as uow:
        stored = uow.api_keys.get(key.split("_")[1])
    assert stored is not None and key.split("_", 2)[2].encode() not in stored.secret_hash


def test_org_and_key_commands_issue_and_revoke_keys(env):
    assert invoke("org", "create", "--name", "Brand 7", "--kind", "brand").exit_code == 0
    result = invoke("org", "create", "--name", "Factory 7", "--kind", "factory", "--brand", "1")
    assert result.exit_code == 0, result.output
    result = invoke("key", "create", "--org", "2", "--role", "factory")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert authenticate(env(), PEPPER.encode(), key).role is Role.FACTORY
    assert invoke("key", "revoke", key.split("_")[1]).exit_code == 0
    with pytest.raises(InvalidApiKeyError):
        authenticate(env(), PEPPER.encode(), key)


def test_org_authorise_sets_and_withdraws_a_brands_partner(env):
    assert invoke("org", "create", "--name", "B", "--kind", "brand").exit_code == 0
    assert invoke("org", "create", "--name", "Lab", "--kind", "attestor").exit_code == 0
    done = invoke("org", "authorise", "--brand", "1", "--partner", "2", "--role", "attestor")
    assert done.exit_code == 0 and "organisation 2 for brand 1: attestor" in done.output
    wrong = invoke("org", "authorise", "--brand", "1", "--partner", "2", "--role", "store")
    assert wrong.exit_code == 1 and "not a store" in wrong.output
    gone = invoke("org", "authorise", "--brand", "1", "--partner", "2")
    assert gone.exit_code == 0 and "brand 1: none" in gone.output


def test_bad_role_or_kind_fails_with_a_code_and_writes_nothing(env):
    invoke("org", "create", "--name", "F", "--kind", "brand")
    result = invoke("key", "create", "--org", "1", "--role", "admin")
    assert result.exit_code == 1
    assert "role_not_allowed_for_organisation" in result.output
    result = invoke("org", "create", "--name", "G", "--kind", "bank")
    assert result.exit_code == 1 and "invalid_organisation" in result.output
    result = invoke("org", "create", "--name", "H", "--kind", "factory")  # no brand
    assert result.exit_code == 1 and "invalid_organisation" in result.output
    with env() as uow:
        assert uow.events.size() == 1  # only the first organisation


def test_chain_status_reports_an_unreachable_node(env):
    result = invoke("chain", "status")
    assert result.exit_code == 0, result.output
    assert "registry" in result.output and "none" in result.output


def test_factory_commands_run_a_batch_from_product_to_code_file_and_labels(env, tmp_path):
    assert invoke("org", "create", "--name", "B", "--kind", "brand").exit_code == 0
    assert (
        invoke("org", "create", "--name", "F", "--kind", "factory", "--brand", "1").exit_code == 0
    )
    refused = invoke("product", "create", "--brand", "1", "--gtin", "9506000134352", "--name", "B")
    assert refused.exit_code == 1 and "outside your GS1 company prefixes" in refused.output
    result = invoke("org", "prefix", "--org", "1", "--prefix", "9506000")
    assert result.exit_code == 0 and "prefixes 9506000" in result.output, result.output
    assert "prefixes 9506000" in invoke("org", "prefix", "--org", "1").output
    result = invoke(
        "product",
        "create",
        "--brand",
        "1",
        "--gtin",
        "9506000134352",
        "--name",
        "Baijiu",
        "--attr",
        "abv=53",
        "--attr",
        "aroma=sauce",
    )
    assert result.exit_code == 0, result.output
    assert "09506000134352" in result.output  # normalised to GTIN-14
    result = invoke(
        "batch",
        "create",
        "--factory",
        "2",
        "--gtin",
        "09506000134352",
        "--lot",
        "L-CLI",
        "--quantity",
        "40",
        "--case-size",
        "6",
        "--cases-per-pallet",
        "3",
    )
    assert result.exit_code == 0, result.output
    with env() as uow:
        (batch,) = uow.batches.list(None, None, 0, 10)
    result = invoke("batch", "generate", batch.public_id)
    assert result.exit_code == 0, result.output
    assert "hash" in result.output and "insert" in result.output and "generated" in result.output

    out = tmp_path / "codes.csv"
    result = invoke("batch", "export", batch.public_id, "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()
    assert rows[0] == "serial,uri,pin,case_sscc,pallet_sscc" and len(rows) == 41
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    again = invoke("batch", "export", batch.public_id, "--out", str(tmp_path / "again.csv"))
    assert again.exit_code == 1 and "code_file_approval_required" in again.output
    assert not (tmp_path / "again.csv").exists()

    pdf = tmp_path / "labels.pdf"
    result = invoke("batch", "labels", batch.public_id, "--out", str(pdf), "--kind", "case")
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF") and "wrote 7 labels" in result.output

    result = invoke("batch", "activate", batch.public_id)
    assert result.exit_code == 0 and "batch " + batch.public_id + " is activated" in result.output
    # The chain is offline: anchoring needs a deployment and says so.
    result = invoke("batch", "anchor", batch.public_id)
    assert result.exit_code == 1 and "chain_not_deployed" in result.output
    result = invoke("batch", "recall", batch.public_id, "--reason", "label misprint")
    assert result.exit_code == 0 and "recalled" in result.output


def test_channel_commands_load_regions_and_set_territories_and_sites(env, tmp_path):
    assert invoke("org", "create", "--name", "B", "--kind", "brand").exit_code == 0
    assert (
        invoke("org", "create", "--name", "D", "--kind", "distributor", "--brand", "1").exit_code
        == 0
    )
    assert invoke("org", "create", "--name", "S", "--kind", "store", "--brand", "1").exit_code == 0
    regions = tmp_path / "districts.csv"
    regions.write_text("code,name,parent\nHZ-N,杭州北区,330100\nHZ-N-1,拱墅片区,HZ-N\n", "utf-8")
    result = invoke("regions", "load", str(regions), "--source", "districts")
    assert result.exit_code == 0 and "loaded 2 regions" in result.output, result.output
    again = invoke("regions", "load", str(regions), "--source", "districts")
    assert again.exit_code == 1 and "invalid_region" in again.output
    result = invoke("org", "territories", "--org", "2", "--region", "330000", "--region", "HZ-N")
    assert result.exit_code == 0 and "浙江省" in result.output, result.output
    assert invoke("org", "parent", "--org", "3", "--parent", "2").exit_code == 0
    result = invoke(
        "org", "site", "--org", "3", "--name", "Shop 1", "--kind", "shop", "--region", "HZ-N-1"
    )
    assert result.exit_code == 0 and "杭州市 杭州北区 拱墅片区" in result.output, result.output
    bad = invoke(
        "org", "site", "--org", "3", "--name", "Shop 2", "--kind", "shop", "--region", "000000"
    )
    assert bad.exit_code == 1 and "invalid_region" in bad.output
    with env() as uow:
        assert uow.channel.territories([2]) == {2: ["330000", "HZ-N"]}
        assert uow.channel.channel_parent(3) == 2


# ----------------------------------------------------------------------------- a newcomer
@pytest.mark.parametrize(
    "command",
    [
        ("admin", "create", "--name", "Platform"),
        ("org", "create", "--name", "Brand 7", "--kind", "brand"),
        ("chain", "status"),
        ("log", "verify"),
        ("touchpoints", "rebuild"),
        ("touchpoints", "status"),
    ],
)
def test_a_command_before_the_first_migration_says_what_to_do_and_creates_nothing(
    tmp_path, monkeypatch, command
):
    path = tmp_path / "fresh" / "tracecert.db"
    monkeypatch.setenv("TRACECERT_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path / "fresh"))
    result = invoke(*command)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "is not set up yet" in said and "run `tracecert migrate`" in said
    assert "Traceback" not in said and "OperationalError" not in said
    assert not path.exists(), "the database file was created"


def test_a_command_on_an_empty_or_older_database_says_what_to_do_and_changes_nothing(
    tmp_path, monkeypatch
):
    path = tmp_path / "tracecert.db"
    url = f"sqlite:///{path}"
    monkeypatch.setenv("TRACECERT_DATABASE_URL", url)
    path.touch()  # an empty file: no schema at all
    result = invoke("admin", "create", "--name", "Platform")
    assert result.exit_code == 2 and "is not set up yet" in " ".join(result.output.split())
    assert path.stat().st_size == 0
    migrate(url, "0004")
    result = invoke("admin", "create", "--name", "Platform")
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "is at schema 0004" in said and "tracecert migrate" in said
    assert schema_revision(url)[0] == "0004"
    assert invoke("migrate").exit_code == 0
    assert invoke("admin", "create", "--name", "Platform").exit_code == 0


def test_an_unreachable_database_is_one_line_not_a_traceback(monkeypatch):
    monkeypatch.setenv("TRACECERT_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/tracecert")
    result = invoke("admin", "create", "--name", "Platform")
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "cannot reach the database" in said
    assert "Traceback" not in said
