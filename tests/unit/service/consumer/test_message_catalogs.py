"""The consumer pages' message catalogs: complete in every language, and in step with the
templates and routers they are extracted from (babel.cfg)."""

from __future__ import annotations

import copy
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from service.api import i18n
from service.consumer.api import pages
from service.consumer.domain.verification import Verdict

ROOT = Path(__file__).resolve().parents[4]


def _id(msgid: str | tuple[str, ...]) -> str:
    """A message's id (a plural message is known by its singular)."""
    return msgid if isinstance(msgid, str) else msgid[0]


def untranslated(catalog: Catalog) -> list[str]:
    """The ids ``catalog`` has no usable text for: an empty string, a plural form missing or
    empty, or a fuzzy entry (which the compiled catalog leaves out)."""
    found = []
    for message in catalog:
        if not message.id:
            continue  # the header
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = catalog.num_plurals if message.pluralizable else 1
        if message.fuzzy or len(forms) != expected or not all(forms):
            found.append(_id(message.id))
    return found


def catalog_ids(catalog: Catalog) -> set[str]:
    return {_id(m.id) for m in catalog if m.id}


def extracted_ids() -> dict[str, bool]:
    """Every message id pybabel extract finds with babel.cfg, and whether it is a plural."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, bool] = {}
    for _file, _line, msgid, _comments, _context in extract_from_dir(
        ROOT / "service", method_map, options_map
    ):
        found[_id(msgid)] = isinstance(msgid, tuple)
    return found


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {lang: i18n.read_catalog(lang) for lang in i18n.LANGS}


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_message_has_a_text_in_every_language(catalogs, lang):
    assert untranslated(catalogs[lang]) == []
    assert catalog_ids(catalogs[lang]) == catalog_ids(catalogs["en"])


def test_a_missing_translation_is_found(catalogs):
    doctored = copy.deepcopy(catalogs["zh"])
    doctored["verdict_genuine"].string = ""
    doctored["wrong_pin_one"].string = ("",)
    assert untranslated(doctored) == ["verdict_genuine", "wrong_pin_one"]
    fuzzy = copy.deepcopy(catalogs["en"])
    fuzzy["claim"].flags.add("fuzzy")
    assert untranslated(fuzzy) == ["claim"]
    one_form = copy.deepcopy(catalogs["en"])
    one_form["wrong_pin_one"].string = ("1 try left",)
    assert untranslated(one_form) == ["wrong_pin_one"]


def test_a_missing_translation_fails_the_render_not_the_reader(catalogs):
    doctored = copy.deepcopy(catalogs["zh"])
    del doctored["verdict_genuine"]
    translations = i18n.compile_catalog(doctored, "zh")
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_gettext_translations(translations, newstyle=False)
    assert env.from_string('{{ _("claim") }}').render() == "认领"
    with pytest.raises(i18n.MissingMessageError, match="verdict_genuine"):
        env.from_string('{{ _("verdict_genuine") }}').render()


def test_the_catalogs_hold_exactly_what_extraction_finds(catalogs):
    extracted = extracted_ids()
    for lang, catalog in catalogs.items():
        assert sorted(set(extracted) - catalog_ids(catalog)) == [], f"{lang}: not in the .po"
        assert sorted(catalog_ids(catalog) - set(extracted)) == [], f"{lang}: in no source"
        plurals = {_id(m.id) for m in catalog if m.id and m.pluralizable}
        assert plurals == {msgid for msgid, plural in extracted.items() if plural}


def test_every_verdict_names_its_headline_and_detail_for_extraction():
    for verdict in Verdict:
        assert verdict.value in pages.VERDICT_TONE
        assert f"verdict_{verdict.value}" in pages.COMPOSED_MESSAGES
        assert f"verdict_{verdict.value}_detail" in pages.COMPOSED_MESSAGES


def test_the_script_gets_the_plural_forms_of_its_language():
    assert {k for k in pages.SCRIPT_TEXT["en"] if k.startswith("wrong_pin_")} == {
        "wrong_pin_one",
        "wrong_pin_other",
        "wrong_pin_none",
    }
    assert {k for k in pages.SCRIPT_TEXT["zh"] if k.startswith("wrong_pin_")} == {
        "wrong_pin_other",
        "wrong_pin_none",
    }
    assert "{n}" in pages.SCRIPT_TEXT["en"]["wrong_pin_other"]
    assert "{n}" not in pages.SCRIPT_TEXT["en"]["wrong_pin_one"]
    assert "{n}" in pages.SCRIPT_TEXT["zh"]["wrong_pin_other"]
