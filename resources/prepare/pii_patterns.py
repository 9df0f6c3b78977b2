"""Presidio recognizers for postal addresses, national ids, IP addresses, customer/account ids and birth dates.

Presidio's own recognizers are reused where they validate a checksum (German tax id, Spanish DNI/NIE, Italian
codice fiscale, IP addresses); the rest are pattern recognizers written here, each shaped so the ordinary numbers
a support model must learn to extract (order ids, prices, dates, postcodes on their own) stay:
- an address is a street of a known street type with a house number (postcode and city joined when they follow);
  a postcode and city alone ("10115 Berlin") are not personal data;
- a French NIR is checked with its mod-97 key; a passport number, a customer/account id and a birth date are only
  taken after a word that says what they are ("passport", "Kundennummer", "né le");
- an IP address counts only when it is public: private, loopback and documentation ranges identify nobody.
Presidio compiles patterns with the ``regex`` module, case-insensitively; ``(?-i:...)`` marks the capitals a
street or city name needs.
"""

from __future__ import annotations

import ipaddress
import re

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import (DeTaxIdRecognizer, EsNieRecognizer, EsNifRecognizer,
                                                      IpRecognizer, ItFiscalCodeRecognizer)

LANGUAGE = "xx"  # one pass for English, German and French text: every recognizer knows all three

_CAP = r"(?-i:\p{Lu})[\p{L}'’-]*"
_CITY = rf"{_CAP}(?:[ -](?:(?:an der|am|im|bei|sur|sous|lès|les|en|upon|on)[ ])?{_CAP}){{0,3}}"
# German street types: glued to the name ("Hauptstraße", "Rosenweg") or a word of their own ("Berliner Straße");
# not -berg/-feld/-hof/-park/-markt, which end as many towns and shops ("Nürnberg 3 Tage", "Supermarkt 2")
_DE_GLUED = "straße|strasse|str\\.|weg|platz|allee|gasse|ring|damm|ufer|chaussee|steig|pfad|graben|stieg|kamp|twiete"
_DE_WORD = "Straße|Strasse|Str\\.|Weg|Platz|Allee|Gasse|Ring|Damm|Ufer|Chaussee|Steig|Pfad|Markt|Graben|Promenade"
# an article or pronoun starts a phrase, not a street name ("Der Park 3", "Im Januar 2026")
_DE_NOT = r"(?!(?-i:Der|Die|Das|Dem|Den|Des|Ein|Eine|Einen|Einem|Im|Am|Zum|Zur|Vom|Beim|Mein|Meine|Unser|Unsere|Ihr|Ihre|Dein|Diese|Dieser|Jede|Jeder|Bis|Ab|Seit)\b)"
_DE_NUMBER = r"\d{1,4}(?:[ ]?(?-i:[a-h])(?![\p{L}]))?(?:[ ]?[-/][ ]?\d{1,4}(?-i:[a-h])?)?"
_DE_TAIL = rf",?[ ]*\n?[ ]*(?:D-)?\d{{5}}[ ]{_CITY}"
_DE_STREET = (rf"{_DE_NOT}(?:{_CAP}(?:[ -]{_CAP}){{0,3}}(?-i:{_DE_GLUED})|{_CAP}(?:[ -]{_CAP}){{0,2}}[ -](?-i:{_DE_WORD}))"
              rf"[ ]{_DE_NUMBER}(?:{_DE_TAIL})?"
              # "Am Markt 5", "In der Aue 3": only with postcode and city, or they are phrases ("Am Montag 3")
              rf"|(?-i:Am|An der|Auf der|Im|In der|Zum|Zur)[ ]{_CAP}(?:[ -]{_CAP}){{0,2}}[ ]{_DE_NUMBER}{_DE_TAIL}")
_FR_TYPES = ("rue|avenue|av\\.|boulevard|bd|chemin|allée|allee|impasse|place|quai|route|cours|square|passage|voie|"
             "rond-point|résidence|sentier|faubourg|parvis|esplanade|promenade|villa|cité|hameau|lieu-dit")
_FR_LINK = r"(?:(?:de|du|des|la|le|les|l['’]|d['’]|aux|au|à)[ ]?)*"
# the house number is often left out in French ("J'habite rue de la Paix")
_FR_STREET = (rf"(?:\d{{1,4}}(?:[ ]?(?:bis|ter|b|t))?,?[ ])?(?:{_FR_TYPES})[ ]{_FR_LINK}{_CAP}"
              rf"(?:[ -]{_FR_LINK}{_CAP}){{0,3}}")
_FR_TAIL = rf"(?:,?[ ]*\n?[ ]*(?:F-)?\d{{5}}[ ]{_CITY}(?:[ ]CEDEX(?:[ ]\d{{1,2}})?)?)?"
# English street types: the standard suffixes of USPS Publication 28 (a postal standard, not a list of streets),
# capitalised as written in addresses, singular or plural ("Pines", "Squares")
_EN_TYPES = "(?-i:(?:" + "|".join(w.capitalize() for w in """allee alley annex arcade avenue bayou beach bend bluff
bottom boulevard branch bridge brook burg bypass camp canyon cape causeway center circle cliff close club common
corner course court cove creek crescent crest crossing crossroad curve dale dam divide drive estate expressway
extension fall ferry field flat ford forest forge fork fort freeway garden gateway glen green grove harbor haven
heights highway hill hollow inlet island isle junction key knoll lake land landing lane light loaf lock lodge loop
mall manor meadow mews mill mission motorway mount mountain neck orchard oval overpass park parkway pass passage
path pike pine place plain plaza point port prairie radial ramp ranch rapid rest ridge rise river road route row
run shoal shore skyway spring spur square station stravenue stream street summit terrace throughway trace track
trafficway trail tunnel turnpike underpass union valley via viaduct view village ville vista walk wall way well
wharf quay yard""".split()) + ")s?|St\\.|Rd\\.|Ave\\.|Ln\\.|Dr\\.|Blvd\\.|Ct\\.|Pl\\.|Sq\\.|Pkwy\\.|Hwy\\.)"
_UNIT = r"(?:,?[ ](?:apt\.?|apartment|suite|ste\.?|unit|flat|floor|fl\.?|#)[ ]?[\p{L}\d-]{1,6})?"
_FLAT = r"(?:(?:flat|studio|apartment|apt\.?|unit|suite)[ ]\d{1,4}[a-z]?,?[ ]*\n?[ ]*)"
# not a quantity of products: "3 Oak Park tables" ends in a plural noun
_EN_STREET = (rf"(?:{_FLAT}(?:\d{{1,5}}[ ])?|\d{{1,5}}[ ])(?:{_CAP}[ ]){{1,3}}(?:{_EN_TYPES})(?![\p{{L}}])"
              rf"(?![ ](?-i:\p{{Ll}}+s)\b){_UNIT}")
_EN_TAIL = (rf"(?:,?[ ]*\n?[ ]*{_CITY}(?:,[ ]?(?-i:[A-Z]{{2}}))?[ ]\d{{5}}(?:-\d{{4}})?"
            rf"|,?[ ]*\n?[ ]*(?:{_CITY},?[ ]*\n?[ ]*)?(?-i:[A-Z]{{1,2}}\d[A-Z\d]?[ ]?\d[A-Z]{{2}}))?")
_EN_FULL = rf"\d{{1,5}}[ ](?:{_CAP}[ ]){{0,3}}{_CAP}{_UNIT},?[ ]*\n?[ ]*{_CITY},[ ]?(?-i:[A-Z]{{2}})[ ]\d{{5}}"


def _end(pattern: str) -> str:
    return rf"(?<![\p{{L}}\p{{N}}]){pattern}(?![\p{{L}}\p{{N}}])"


class AddressRecognizer(PatternRecognizer):
    def __init__(self):
        super().__init__(supported_entity="ADDRESS", supported_language=LANGUAGE, name="AddressRecognizer",
                         patterns=[Pattern("de_street", _end(_DE_STREET), 0.8),
                                   Pattern("fr_street", _end(_FR_STREET + _FR_TAIL), 0.8),
                                   Pattern("en_street", _end(_EN_STREET + _EN_TAIL), 0.8),
                                   Pattern("us_full", _end(_EN_FULL), 0.8)])


def nir_valid(text: str) -> bool:
    """French NIR (numéro de sécurité sociale): 13 characters, then the key 97 - (number mod 97)."""
    s = re.sub(r"\s", "", text).upper()
    if not re.fullmatch(r"[1278]\d{4}(?:\d{2}|2A|2B)\d{6}\d{2}", s):
        return False
    body = s[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(s[13:])


class FrNirRecognizer(PatternRecognizer):
    def __init__(self):
        nir = r"[1278][ ]?\d{2}[ ]?\d{2}[ ]?(?:\d{2}|2A|2B)[ ]?\d{3}[ ]?\d{3}[ ]?\d{2}"
        super().__init__(supported_entity="NATIONAL_ID", supported_language=LANGUAGE, name="FrNirRecognizer",
                         patterns=[Pattern("nir", _end(nir), 0.5)],
                         context=["sécurité sociale", "nir", "insee", "carte vitale", "numéro de sécu"])

    def validate_result(self, pattern_text: str) -> bool:
        return nir_valid(pattern_text)


class SpacedDeTaxIdRecognizer(DeTaxIdRecognizer):
    """The Steuer-ID as written on letters too ("12 345 678 901"), checked with presidio's ISO 7064 check."""

    def __init__(self):
        super().__init__(supported_language=LANGUAGE, supported_entity="NATIONAL_ID",
                         patterns=[Pattern("tax id", _end(r"[1-9]\d(?:[ ]?\d{3}){3}"), 0.5)])

    def validate_result(self, pattern_text: str) -> bool:
        return bool(super().validate_result(re.sub(r"\s", "", pattern_text)))


_ID_VALUE = r"(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,19}(?![\p{L}\p{N}-])"
_PASSPORT_CUE = (r"(?:passport|reisepass|personalausweis|ausweis|passeport|carte d['’]identité|identity card|"
                 r"id card|driver['’]?s licen[cs]e|führerschein|permis de conduire)"
                 r"(?:[ -]?(?:number|no\.?|nr\.?|nummer|n°|numéro|#))?[ ]?(?:is|ist|est)?[ ]?[:#]?[ ]?")
_ACCOUNT_CUE = (r"(?:(?:customer|client|member|membership|loyalty|account|user|kunden|kunde|konto|mitglieds|vertrags|"
                r"contract|subscriber|abonné|compte|adhérent)"
                r"[ -]?(?:number|no\.?|nr\.?|nummer|id|n°|numéro|#|code)"
                r"|(?:numéro|n°|no)[ ](?:de[ ])?(?:client|compte|contrat|adhérent|abonné)"
                r"|kd\.?-?nr\.?|kundennr\.?|kunden-nr\.?|cust\.?[ ]id)[ ]?(?:is|ist|est)?[ ]?[:#]?[ ]?")
_DATE = (r"(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)?\d{2}|(?:19|20)\d{2}-\d{2}-\d{2}|"
         r"\d{1,2}\.?[ ](?:\p{L}+\.?)[ ](?:19|20)\d{2}|(?:\p{L}+)[ ]\d{1,2},?[ ](?:19|20)\d{2})")
_BIRTH_CUE = (r"(?:born(?: on)?|date of birth|birth ?date|dob|d\.o\.b\.|birthday|geboren(?: am)?|geb\.(?: am)?|"
              r"geburtsdatum|geburtstag|né le|née le|né\(e\) le|date de naissance)[ ]?(?:is|ist|est)?[ ]?[:]?[ ]?")


def _after(cue: str, value: str) -> str:
    return rf"(?<=(?<![\p{{L}}]){cue}){value}"


class ContextIdRecognizer(PatternRecognizer):
    """A value that only a word before it makes personal: passport and id-card numbers, customer/account ids."""

    def __init__(self, entity: str, cue: str, name: str):
        super().__init__(supported_entity=entity, supported_language=LANGUAGE, name=name,
                         patterns=[Pattern(name, _after(cue, _ID_VALUE), 0.8)])


class BirthDateRecognizer(PatternRecognizer):
    def __init__(self):
        super().__init__(supported_entity="BIRTH_DATE", supported_language=LANGUAGE, name="BirthDateRecognizer",
                         patterns=[Pattern("birth date", _after(_BIRTH_CUE, _DATE), 0.8)])


class PublicIpRecognizer(IpRecognizer):
    def __init__(self):
        super().__init__(supported_language=LANGUAGE, supported_entity="IP_ADDRESS")

    def invalidate_result(self, pattern_text: str) -> bool:
        try:
            return not ipaddress.ip_interface(pattern_text).ip.is_global
        except ValueError:
            return True


class PersonRecognizer(EntityRecognizer):
    """pii_names.find_people as a presidio recognizer, so names go through the same engine as every other kind."""

    def __init__(self):
        super().__init__(supported_entities=["PERSON"], supported_language=LANGUAGE, name="PersonRecognizer")

    def load(self) -> None:
        from resources.prepare.pii_names import first_names, stop_words

        first_names(), stop_words()

    def analyze(self, text, entities, nlp_artifacts=None):
        from resources.prepare.pii_names import find_people

        return [RecognizerResult("PERSON", start, end, 0.85) for start, end in find_people(text)]


def checksum_ids() -> list[PatternRecognizer]:
    """Ids whose checksum settles them: found before the phone detector, which would read a NIR's digit groups."""
    return [FrNirRecognizer(), SpacedDeTaxIdRecognizer()]


def recognizers() -> list[EntityRecognizer]:
    """Every recognizer the scrubber runs through presidio's engine."""
    ids = dict(supported_language=LANGUAGE, supported_entity="NATIONAL_ID")
    return [AddressRecognizer(), EsNifRecognizer(**ids),
            EsNieRecognizer(**ids), ItFiscalCodeRecognizer(**ids),
            ContextIdRecognizer("NATIONAL_ID", _PASSPORT_CUE, "PassportRecognizer"),
            ContextIdRecognizer("ACCOUNT_ID", _ACCOUNT_CUE, "AccountIdRecognizer"),
            BirthDateRecognizer(), PublicIpRecognizer(), PersonRecognizer()]
