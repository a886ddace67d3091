"""Identifier verdicts: each names what is wrong with the value (python-stdnum for SIREN/SIRET)."""

from __future__ import annotations

import pytest

from territoire.ingest.rules.identifiers import (
    _afirev_verdict,
    email_verdict,
    phone_verdict,
    rna_verdict,
    siren_verdict,
    siret_verdict,
    url_verdict,
)


@pytest.mark.parametrize("value", ["44137080600016", "441 370 806 00016", "35600000049837", "21310458100011"])
def test_valid_sirets_pass_including_la_poste(value):
    # 35600000049837: a La Poste establishment, valid by La Poste's own rule though not by Luhn.
    assert siret_verdict(value) is None


@pytest.mark.parametrize(("value", "says"), [
    ("4.4137080600016E+13", "notation scientifique"),       # a spreadsheet turned it into a float
    ("44137080600016.0", "nombre décimal"),
    ("4413708060001", "zéro initial"),                       # 13 digits: a leading zero lost
    ("44137080600017", "Luhn"),
    ("21860194600000", "arrondi"),                           # the NIC rounded away by a spreadsheet
    ("35600000049838", "Luhn"),                              # La Poste's rule fails too
    ("4413708060001A", "chiffres"),
    ("441370806", "9 caractères au lieu de 14"),
])
def test_bad_sirets_say_why(value, says):
    verdict = siret_verdict(value)
    assert verdict and says in verdict and value in verdict


def test_siren():
    assert siren_verdict("130025265") is None
    assert "Luhn" in siren_verdict("130025266")
    assert "zéro initial" in siren_verdict("21310458")


def test_rna():
    assert rna_verdict("W751212517") is None
    assert rna_verdict("w2A1000123") is None
    assert "SIRET" in rna_verdict("44137080600016")
    assert "W suivi de 9" in rna_verdict("751212517")


@pytest.mark.parametrize("value", ["01 23 45 67 89", "0970732103", "+33 1 23 45 67 89", "0033123456789",
                                   "+262 262 12 34 56", "3949"])
def test_french_phones(value):
    assert phone_verdict(value) is None


@pytest.mark.parametrize(("value", "says"), [("111111111", "0 initial"), ("+33 0123456789", "sans le 0"),
                                             ("12", "pas un numéro"), ("9.70732103E8", "tableur")])
def test_bad_phones(value, says):
    assert says in phone_verdict(value)


def test_emails_and_urls():
    assert email_verdict("contact@société.fr") is None
    assert "exactement un @" in email_verdict("contact@@x.fr")
    assert "mailto" in email_verdict("mailto:contact@x.fr")
    assert "extension" in email_verdict("contact@localhost")
    assert "avant le @" in email_verdict("jean dupont@x.fr")
    assert url_verdict("https://www.data.gouv.fr/fr/") is None
    assert "http://" in url_verdict("www.data.gouv.fr")
    assert "espace" in url_verdict("https://x.fr/a b")


def test_afirev_ids():
    assert _afirev_verdict("FRA68P68021001", "P") is None
    assert _afirev_verdict("Non concerné", "P") is None
    assert "c'est un identifiant de point de charge" in _afirev_verdict("FRA68E68021001", "P")
    assert "majuscules" in _afirev_verdict("fra68p1", "P")
