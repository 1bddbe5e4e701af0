"""The consumer pages' words: gettext message catalogs for zh and en, read with Babel.

The catalogs are ``service/web/locale/<lang>/LC_MESSAGES/messages.po``, extracted from the
templates and routers with ``pybabel`` (``babel.cfg``; how: docs/consumer.md). The .po files
are the only copy kept: each is parsed and compiled in memory when this module is imported,
so a fresh checkout serves its pages with no build step and no .mo file to keep in step.

Message ids are names (``verdict_genuine``), not English sentences: both languages are
translations of them, they are the keys consumer.js looks its strings up by, and one English
word can stand for two Chinese ones ("Store": 寄存 the bottle, 门店 the shop).
"""

from __future__ import annotations

import gettext
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parents[1] / "web" / "locale"
DOMAIN = "messages"
LANGS = ("zh", "en")


class MissingMessageError(LookupError):
    """Raised when a page asks for a message id its language's catalog has no text for (a
    misspelt id, or one not yet extracted and translated): the render fails, not the reader."""


class _Missing(gettext.NullTranslations):
    """The last fallback of a catalog: refuses every id the catalog lacks."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def gettext(self, message: str) -> str:
        raise MissingMessageError(f"no {self.lang} text for message {message!r}")

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        raise MissingMessageError(f"no {self.lang} text for message {msgid1!r}")

    def pgettext(self, context: str, message: str) -> str:
        raise MissingMessageError(f"no {self.lang} text for message {message!r} ({context})")

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        raise MissingMessageError(f"no {self.lang} text for message {msgid1!r} ({context})")


def N_(msgid: str) -> str:
    """Marks ``msgid`` for extraction (a default pybabel keyword) where it is only named, as
    ids composed from a value are; it is translated where it is shown."""
    return msgid


def catalog_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(lang: str, locale_dir: Path = LOCALE_DIR) -> Catalog:
    """The .po file of ``lang`` as a Babel catalog."""
    with catalog_path(lang, locale_dir).open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


def compile_catalog(catalog: Catalog, lang: str) -> Translations:
    """``catalog`` compiled in memory (fuzzy and empty entries left out, as msgfmt does); an id
    it has no text for raises MissingMessageError."""
    mo = BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    translations = Translations(mo, domain=DOMAIN)
    translations.add_fallback(_Missing(lang))
    return translations


def plural_samples(lang: str) -> dict[str, int]:
    """A count for each CLDR plural category of ``lang`` (en: one 1, other 0; zh: other 0),
    the categories the browser's ``Intl.PluralRules`` answers."""
    rule = Locale.parse(lang).plural_form
    samples: dict[str, int] = {}
    for n in range(1000):
        samples.setdefault(rule(n), n)
    return samples


#: Every language's catalog, compiled once: a broken .po stops the service at start-up.
TRANSLATIONS: dict[str, Translations] = {
    lang: compile_catalog(read_catalog(lang), lang) for lang in LANGS
}


def translations(lang: str) -> Translations:
    return TRANSLATIONS[lang]
