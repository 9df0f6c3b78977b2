"""Person names in English, German and French text, without an NER model.

No German NER model installs from the package registry, and the English ones there are unofficial re-uploads, so
names are found the way a careful reader finds them in support mail: a first name from a large gazetteer followed
by capitalised words, or capitalised words after a cue that only a name can follow (a title "Frau"/"Mr"/"Mme",
"my name is"/"mein Name ist"/"je m'appelle", a greeting "Hallo Anna", a sign-off "Kind regards, Lotte Brandt").

The gazetteer is nam_dict.txt by Jörg Michael (about 45,000 first names with their frequency in 50+ countries;
GNU Free Documentation License 1.2, read as data, never modified), shipped in the ``gender-guesser`` package. Its
first names are not the lists the benchmark draws from (Faker's), so the benchmark measures generalisation.

The hard part is precision: German capitalises every noun, products are named after places ("Bergen wool
blanket", "Malmö side table") and many first names are words ("May", "Will", "Art", "Rose"). So a lone first
name needs a cue or a clean position (not after a determiner or a number, not a stop word), and a surname is only
taken next to a first name or after a strong cue.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources as importlib_resources

import regex

# a capitalised word: Anna, Hans-Jürgen, McDonald, O'Brien, Élodie
_WORD = r"\p{Lu}(?:['’]\p{Lu})?\p{Ll}+(?:\p{Lu}\p{Ll}+)?(?:-\p{Lu}\p{Ll}+)*"
_PARTICLE = r"(?:von|van|de|der|den|del|della|di|da|dos|du|le|la|ten|ter|zu|vom|zur|d['’])"
_SEQ = regex.compile(rf"(?<![\p{{L}}\p{{N}}_@.'’-])(?:{_WORD})(?:[ ](?:{_PARTICLE}[ ]?)*(?:{_WORD})){{0,3}}"
                     rf"(?![\p{{L}}\p{{N}}_@'’-]|\.[\p{{L}}\p{{N}}])")  # not part of "jane.doe@..." or a domain
_TOKEN = regex.compile(rf"{_PARTICLE}[ ]?|{_WORD}")

_TITLE = (r"(?:Herrn?|Frau|Hr\.|Fr\.|Mr\.?|Mrs\.?|Ms\.?|Miss|Mx\.?|Sir|Madam|Monsieur|Madame|Mademoiselle|Mme\.?|"
          r"Mlle\.?|M\.)(?:[ ](?:Dr\.|Prof\.|Dr|Prof))*[ ]$")
_STRONG = (r"(?:my name is|my name's|name is|i am called|mein name ist|ich heiße|ich heisse|je m['’]appelle|"
           r"je me nomme|mon nom est|name:|nom :|nom:|account holder:?|kontoinhaber(?:in)?:?|titulaire:?)[ ]$")
_WEAK = (r"(?:i['’]m|i am|this is|it['’]s|ich bin|hier ist|hier spricht|je suis|c['’]est|moi c['’]est|ici|from|"
         r"von|de la part de|signed|gez\.|spoke to|spoke with|talked to|mit|with|to|an|à|avec|for|für|pour)[ ]$")
_GREETING = (r"(?:^|[\n.!?,:;(] ?)(?:hi|hello|hey|dear|hallo|moin|servus|liebe|lieber|guten tag|guten morgen|"
             r"sehr geehrte|sehr geehrter|bonjour|bonsoir|salut|coucou|cher|chère|thanks|thank you|merci|danke|"
             r"cheers)[ ,]*$")
_SIGNOFF = (r"(?:regards|grüße|grüßen|gruß|cordialement|bien à vous|sincerely|cheers|best|best wishes|thanks|"
            r"thank you|merci|danke|amicalement|salutations|lg|vg|mfg|yours|bisous|à bientôt)[ ]?[,!.]?[ ]?\n?[ ]?$")
_CUES = {name: regex.compile(pattern, regex.I) for name, pattern in
         (("strong", _STRONG), ("weak", _WEAK), ("greeting", _GREETING), ("signoff", _SIGNOFF))}
_TITLE_CASE = regex.compile(_TITLE)  # titles are case-sensitive: "M." yes, "m." no

# a word right before a candidate that makes it a thing, not a person: "a Bergen blanket", "die Rose", "2 Malmö"
_DETERMINERS = frozenset("""a an the this these those my your our their his her its any each every some
der die das den dem des ein eine einen einem einer eines mein meine meinen meinem meiner dein deine ihr ihre
ihren ihrem unser unsere unseren euer eure welche welcher welches diese dieser dieses diesen jede jeder jedes kein
keine le la les l un une des du au aux mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs ce cet
cette ces quel quelle quels quelles chaque aucun aucune
one two three four five six seven eight nine ten zwei drei vier fünf sechs sieben acht neun zehn deux trois
quatre cinq sept huit neuf dix of von aus from de d""".split())
_CALENDAR = frozenset("""january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday januar februar märz mai juni juli oktober dezember
montag dienstag mittwoch donnerstag freitag samstag sonntag janvier février mars avril juin juillet août
septembre octobre novembre décembre lundi mardi mercredi jeudi vendredi samedi dimanche christmas easter
weihnachten ostern noël pâques""".split())
# countries, nationalities and languages that are also first names in some country ("German", "France", "Italia")
_PLACES = frozenset("""german germany germans deutsch deutschland french france français française english
england british britain english spanish spain espagne spanien italian italy italia italien dutch holland
irish ireland austria österreich autriche swiss suisse schweiz belgium belgique belgien europe european europa
america american amerika canada china india japan poland polska polen portugal sweden schweden suède norway
norwegen norvège denmark dänemark danemark finland finnland finlande greece greek grèce griechenland paris
berlin london hamburg munich münchen vienna wien lyon""".split())

# capitalised words that introduce a name rather than belong to one
_CUE_WORDS = frozenset("""herr herrn frau mr mrs ms miss mx sir madam monsieur madame mademoiselle mme mlle dr prof
hallo hello hi hey dear liebe lieber moin servus bonjour bonsoir salut coucou cher chere guten tag sehr geehrte
geehrter thanks thank danke merci cheers regards gruße grusse gruss customer agent kunde kundin client cliente
support team""".split())


def _hex(ch: str) -> int:
    return int(ch, 16) if ch in "0123456789ABCDEFabcdef" else 0


@functools.cache
def first_names() -> dict[str, int]:
    """Lower-cased first name -> its highest frequency class in any country (0 = listed without one, 13 = top)."""
    path = importlib_resources.files("gender_guesser") / "data" / "nam_dict.txt"
    names: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        # Columns: gender code (0-2), the name (3-28), a sort marker (29; '+' lines repeat expanded umlauts),
        # then one frequency digit per country.
        if not line or line[0] in "#=" or len(line) < 30 or line[29] == "+":
            continue
        name = line[3:29].strip().replace("+", "-")
        if not name or not name[0].isupper():
            continue
        freq = max((_hex(c) for c in line[30:].rstrip("$ ")), default=0)
        for key in {name.lower(), plain(name)}:
            names[key] = max(names.get(key, 0), freq)
    return names


def plain(word: str) -> str:
    """Lower case without accents: the gazetteer spells "Elodie", a customer "Élodie"."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


@functools.cache
def stop_words() -> frozenset[str]:
    """Function words of the three languages (spaCy's lists) and calendar words: never a name on their own."""
    import importlib.util
    from pathlib import Path

    # Read the three word-list files alone: importing spacy.lang.xx builds its language class (seconds).
    root = Path(importlib.util.find_spec("spacy").submodule_search_locations[0]) / "lang"
    words: set[str] = set()
    for lang in ("en", "de", "fr"):
        spec = importlib.util.spec_from_file_location(f"_privft_stop_{lang}", root / lang / "stop_words.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        words |= {w.lower() for w in module.STOP_WORDS}
    return frozenset(words) | _CALENDAR | _PLACES


def _is_first(token: str) -> bool:
    return _frequency(token) >= 0


def _frequency(token: str) -> int:
    """The first name's frequency class, or -1 when ``token`` is no first name (or a stop word)."""
    low, names = plain(token), first_names()
    if token.lower() in stop_words():
        return -1
    if low in names:
        return names[low]
    parts = low.split("-")
    return min(names.get(p, -1) for p in parts) if len(parts) > 1 else -1


def _is_surname(token: str) -> bool:
    return token.lower() not in stop_words()


def _previous_word(before: str) -> str:
    m = regex.search(r"([\p{L}\p{N}]+)['’]?[ ]*$", before)
    return m.group(1).lower() if m else ""


def _cue(before: str) -> str:
    if _TITLE_CASE.search(before):
        return "title"
    for name in ("strong", "greeting", "signoff", "weak"):
        if _CUES[name].search(before):
            return name
    return ""


def find_people(text: str) -> list[tuple[int, int]]:
    """(start, end) of every person name in ``text``."""
    found = []
    for m in _SEQ.finditer(text):
        tokens = [(t.start() + m.start(), t.end() + m.start(), t.group(0)) for t in _TOKEN.finditer(m.group(0))]
        words = [t for t in tokens if not regex.fullmatch(_PARTICLE + "[ ]?", t[2])]
        # "Hallo Herr Schmidt" is one run of capitals: a name starts after the last cue word or stop word in it
        run: list[tuple[int, int, str]] = []
        for w in words + [None]:
            if w is None or plain(w[2]) in _CUE_WORDS or w[2].lower() in stop_words():
                if run and (span := _decide(text, run)):
                    found.append(span)
                run = []
            else:
                run.append(w)
    return found


def _decide(text: str, words: list[tuple[int, int, str]]) -> tuple[int, int] | None:
    """The name part of one run of capitalised words, given what stands before it."""
    start = words[0][0]
    before = text[max(0, start - 40):start]
    cue = _cue(before)
    first = _is_first(words[0][2])
    line_end = regex.match(r"[ ]*(?:[,.!]?[ ]*(?:\n|$))", text[words[-1][1]:]) is not None
    surnames = []
    for w in words[1:3]:
        if not _is_surname(w[2]):
            break
        surnames.append(w)
    if cue == "title" or cue == "strong":
        # "Frau Anna Schmidt", "Herr Schmidt" (never "Herr Schmidt Kunde": a surname after a surname is a noun)
        keep = [words[0]] + (surnames if first else [])
        return (start, keep[-1][1]) if _is_surname(words[0][2]) else None
    if cue == "signoff" and (first or (line_end and 1 < len(words) <= 3)):
        keep = [words[0]] + surnames
        return start, keep[-1][1]
    if not first:
        return None
    if cue in ("greeting", "weak", "signoff"):
        return start, ([words[0]] + surnames)[-1][1]
    if _previous_word(before) in _DETERMINERS or regex.search(r"\d[ ]*$", before):
        return None  # "a Bergen blanket", "2 Rose bowls"
    if surnames:
        return start, surnames[-1][1]
    # A lone first name with no cue: only in a position a noun or a sentence start cannot take.
    sentence_start = not before.strip() or regex.search(r"[.!?:\n\"“„«]\s*$", before)
    after = text[words[0][1]:words[0][1] + 2]
    if sentence_start:  # "Megan, please confirm.": a first name addressed at the start of a sentence
        return (start, words[0][1]) if len(words) == 1 and after.startswith(",") else None
    if len(words) > 1 or _frequency(words[0][2]) < 2:
        return None
    return (start, words[0][1]) if regex.match(r"[ ]?(?:\p{Ll}|[,.!?;:)]|$)", after) else None


_ANY_WORD = regex.compile(rf"(?<![\p{{L}}\p{{N}}_@.'’-]){_WORD}(?![\p{{L}}\p{{N}}_@'’-]|\.[\p{{L}}\p{{N}}])")


def name_words_in(text: str, words: set[str]) -> list[tuple[int, int, str]]:
    """(start, end, "PERSON") of each capitalised word of ``text`` that is one of the (plain) ``words``."""
    words = {w for w in words if len(w) > 2 and w not in stop_words()}
    if not words:
        return []
    return [(m.start(), m.end(), "PERSON") for m in _ANY_WORD.finditer(text) if plain(m.group(0)) in words]
