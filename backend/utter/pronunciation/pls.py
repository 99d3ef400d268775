"""W3C Pronunciation Lexicon Specification (PLS 1.0) files: the lexicons ElevenLabs imports and exports.

Each <lexeme> holds one or more <grapheme>s (the word as written) and an <alias> or a
<phoneme> (IPA) saying how to say it; both, and the phoneme is used where the engine
reads phonemes. PLS has no notion of case: its matching is case-sensitive, and a rule
that ignores case is written with an attribute of Utter's own namespace, which other
readers skip.

Files come from people: they are parsed with defusedxml (no DTDs, entities or external
references, so no entity bombs), size-limited before parsing, and refused whole with a
stable code when anything in them cannot be used.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from .rules import Rule, RuleError, check_rules, make_rule

MAX_PLS_BYTES = 1_000_000
PLS_NAMESPACE = "http://www.w3.org/2005/01/pronunciation-lexicon"
UTTER_NAMESPACE = "urn:utter:pls"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class PlsError(RuleError):
    pass


def _tag(name: str) -> str:
    return f"{{{PLS_NAMESPACE}}}{name}"


def parse_pls(data: bytes) -> list[Rule]:
    """The rules in a PLS file, checked as a dictionary; raises PlsError or RuleError."""
    if len(data) > MAX_PLS_BYTES:
        raise PlsError("pls_too_large", f"The lexicon file is {len(data):,} bytes; the limit is {MAX_PLS_BYTES:,}.")
    try:
        root = SafeElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise PlsError("pls_invalid", "The lexicon file declares a DTD or entities, which are not accepted in "
                                      "a PLS file.") from None
    except ElementTree.ParseError as exc:
        raise PlsError("pls_invalid", f"The file is not a readable XML lexicon ({exc}).") from None
    if root.tag not in (_tag("lexicon"), "lexicon"):
        raise PlsError("pls_invalid", f"The file is XML but not a PLS lexicon: its root is <{_local(root.tag)}>, "
                                      "not <lexicon>.")
    namespace = root.tag[: -len("lexicon")]
    alphabet = root.get("alphabet", "ipa")
    rules: list[Rule] = []
    for number, lexeme in enumerate(root.iter(f"{namespace}lexeme"), start=1):
        graphemes = [g.text for g in lexeme.iter(f"{namespace}grapheme") if (g.text or "").strip()]
        if not graphemes:
            raise PlsError("pls_invalid", f"Lexeme {number} has no <grapheme> (the word it is about).")
        alias = next(iter(lexeme.iter(f"{namespace}alias")), None)
        phoneme = next(iter(lexeme.iter(f"{namespace}phoneme")), None)
        if alias is None and phoneme is None:
            raise PlsError("pls_invalid", f"Lexeme {number} ({graphemes[0].strip()!r}) has neither <alias> nor "
                                          "<phoneme>.")
        case_sensitive = lexeme.get(f"{{{UTTER_NAMESPACE}}}case-sensitive", "true").lower() != "false"
        for grapheme in graphemes:
            rules.append(make_rule(grapheme, alias=alias.text if alias is not None else None,
                                   phoneme=phoneme.text if phoneme is not None else None,
                                   alphabet=phoneme.get("alphabet", alphabet) if phoneme is not None else None,
                                   case_sensitive=case_sensitive))
    if not rules:
        raise PlsError("pls_invalid", "The lexicon holds no <lexeme>: there is nothing to import.")
    return check_rules(rules)


def write_pls(rules: Sequence[Rule], language: str = "en-US") -> bytes:
    """The rules as a PLS 1.0 lexicon (UTF-8)."""
    ElementTree.register_namespace("", PLS_NAMESPACE)
    ElementTree.register_namespace("utter", UTTER_NAMESPACE)
    root = ElementTree.Element(_tag("lexicon"), {"version": "1.0", "alphabet": "ipa", _XML_LANG: language})
    for rule in rules:
        lexeme = ElementTree.SubElement(root, _tag("lexeme"))
        if not rule.case_sensitive:
            lexeme.set(f"{{{UTTER_NAMESPACE}}}case-sensitive", "false")
        ElementTree.SubElement(lexeme, _tag("grapheme")).text = rule.string_to_replace
        if rule.phoneme:
            ElementTree.SubElement(lexeme, _tag("phoneme")).text = rule.phoneme
        if rule.alias is not None:
            ElementTree.SubElement(lexeme, _tag("alias")).text = rule.alias
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
