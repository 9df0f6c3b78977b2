"""A labelled corpus of support messages in English, German and French with personal data at known offsets.

Every value comes from Faker (names, streets, cities, phones, e-mails, IBANs, cards, passport and national ids
of its en_US, en_GB, de_DE, fr_FR, es_ES and it_IT providers) or is generated here with a valid checksum
(German Steuer-ID), so none comes from the gazetteer the scrubber reads (gender-guesser's nam_dict.txt). Templates
put each value where customers write it: with a cue ("my name is", "Frau", "call me on") and without one
("I spoke to Lisa Meyer"), mid-sentence, at a line end, in a signature. Distractors the scrubber must leave alone
stand in the same messages: order ids, prices, dates, quantities, postcodes with a city alone, private IP
addresses, products named after Faker's cities, company names (which often hold a surname: "Müller GmbH" is
counted as a false positive if replaced), weekdays, and phrases shaped like a street with a number ("Am Montag
3 Pakete", "Im Jahr 2025", "3 Oak Park tables").
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass, field

LOCALES = {"en": ("en_US", "en_GB"), "de": ("de_DE",), "fr": ("fr_FR",)}

TEMPLATES = {
    "en": [
        "Hi, my name is {name} and my order {order} has not arrived.",
        "Hello {first}, thanks for your patience. The refund of {price} goes to {iban}.",
        "Please ship it to {address} instead. Kind regards, {name}",
        "I spoke to {name} on {date} about the {product}. You can call me on {phone}.",
        "Dear Mr {last}, your customer number {account} is linked to {email}.",
        "My new address is {address}.\nThanks,\n{name}",
        "The charge on card {card} for {qty} x {product} was doubled. Reach me at {phone}.",
        "Date of birth: {dob}. Passport number: {passport}. Customer: {name}",
        "We blocked logins from {ip} (your office router {private_ip} is fine). {first}, please confirm.",
        "Send the invoice for {order} to {email}; the store in {city_plain} has my {product}.",
        "This is {name}. I live at {street} and the courier left it at number {qty}.",
        "Ms {last} asked whether {product} can go to {address} by {date}.",
        "{name}\n{address}\n{phone}",
        "Account holder: {name}, IBAN {iban}, born {dob}.",
        "Hey {first}! The {product} is back in stock, {price} until {date}.",
        "Our supplier {company} delivers on {weekday}; Customer Service will Update the Tracking Page.",
        "We have {qty} Oak Park tables and {qty} Rose Garden chairs left; see Section {qty} of the {year} catalogue.",
    ],
    "de": [
        "Hallo, mein Name ist {name} und meine Bestellung {order} ist nicht angekommen.",
        "Sehr geehrte Frau {last},\nIhre Kundennummer {account} ist mit {email} verknüpft.",
        "Bitte liefern Sie an {address}. Viele Grüße, {name}",
        "Ich habe am {date} mit {name} über den {product} gesprochen. Rufen Sie mich unter {phone} an.",
        "Die Erstattung von {price} bitte auf {iban} überweisen.\nMit freundlichen Grüßen\n{name}",
        "Meine Steuer-ID ist {taxid}, geboren am {dob}.",
        "Lieber Herr {last}, die Karte {card} wurde für {qty} Stück {product} doppelt belastet.",
        "Guten Tag {first}, wir haben Anmeldungen von {ip} gesperrt (Ihr Router {private_ip} ist in Ordnung).",
        "Ich wohne jetzt in der {street}. Das Paket liegt in der Filiale {city_plain}.",
        "Hier ist {name}, Reisepass-Nr. {passport}, Telefon {phone}.",
        "Die Rechnung zu {order} bitte an {email}. Danke, {first}",
        "{name}\n{address}\nTel. {phone}",
        "Hallo {first}, der {product} kostet {price} bis zum {date}.",
        "Der Lieferant {company} liefert am {weekday}; Rückfragen an den Kundendienst, Abteilung Versand.",
        "Am Montag {qty} Pakete, im Lager {qty} weitere. Im Jahr {year} war der {product} in Nürnberg {qty} Tage aus.",
    ],
    "fr": [
        "Bonjour, je m'appelle {name} et ma commande {order} n'est pas arrivée.",
        "Madame {last}, votre numéro client {account} est lié à {email}.",
        "Merci de livrer au {address}. Cordialement, {name}",
        "J'ai parlé avec {name} le {date} du {product}. Appelez-moi au {phone}.",
        "Le remboursement de {price} doit aller sur {iban}.\nBien à vous,\n{name}",
        "Mon numéro de sécurité sociale est {nir}, né le {dob}.",
        "Monsieur {last}, la carte {card} a été débitée deux fois pour {qty} {product}.",
        "Bonjour {first}, nous avons bloqué les connexions depuis {ip} (votre box {private_ip} va bien).",
        "J'habite au {street}. Le colis est au magasin de {city_plain}.",
        "C'est {name}, passeport n° {passport}, téléphone {phone}.",
        "La facture de {order} à {email} s'il vous plaît. Merci, {first}",
        "{name}\n{address}\nTél. {phone}",
        "Mon DNI est {dni} et le NIE de mon mari {nie}; codice fiscale {cf}.",
        "Le fournisseur {company} livre le {weekday}; Service Client, Retours et Échanges.",
    ],
}

# slot -> kind of personal data (None: a distractor that must stay)
SLOTS = {"name": "person", "first": "person", "last": "person", "address": "address", "street": "address",
         "email": "email", "phone": "phone", "iban": "iban", "card": "card", "taxid": "national_id",
         "nir": "national_id", "dni": "national_id", "nie": "national_id", "cf": "national_id",
         "passport": "national_id", "ip": "ip", "account": "account", "dob": "birth_date", "order": None,
         "price": None, "date": None, "product": None, "qty": None, "city_plain": None, "private_ip": None, "company": None,
         "weekday": None, "year": None}


@dataclass
class Row:
    text: str
    language: str
    entities: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, kind)


def steuer_id(rng: random.Random) -> str:
    """A German tax id that passes the ISO 7064 mod 11,10 check (one digit twice in the first ten)."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(9)]
        if max(digits.count(d) for d in digits) > 3 or len(set(digits)) == 10:
            continue
        product = 10
        for d in digits:
            total = (d + product) % 10 or 10
            product = total * 2 % 11
        check = (11 - product) % 10
        s = "".join(map(str, digits + [check]))
        return s if rng.random() < 0.5 else f"{s[:2]} {s[2:5]} {s[5:8]} {s[8:]}"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _spaced(value: str, rng: random.Random) -> str:
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.5 else value


class Generator:
    def __init__(self, seed: int):
        from faker import Faker

        self.rng = random.Random(seed)
        self.fakers = {loc: Faker(loc) for locs in LOCALES.values() for loc in locs}
        self.fakers.update({"es_ES": Faker("es_ES"), "it_IT": Faker("it_IT")})
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 100 + i)

    def value(self, slot: str, fake, person: tuple[str, str]) -> str:
        rng = self.rng
        first, last = person
        loc = next(k for k, v in self.fakers.items() if v is fake)
        if slot == "name":
            return f"{first} {last}"
        if slot in ("first", "last"):
            return first if slot == "first" else last
        if slot in ("address", "street"):
            street = fake.street_address().replace("\n", ", ")
            if slot == "street":
                return street
            if loc == "en_US":
                return f"{street}, {fake.city()}, {fake.state_abbr()} {fake.zipcode()}"
            return f"{street}, {fake.city()} {fake.postcode()}" if loc == "en_GB" else \
                f"{street}, {fake.postcode()} {fake.city()}"
        if slot == "email":
            email = fake.email()
            return _fullwidth(email) if rng.random() < 0.05 else email
        if slot == "phone":
            phone = fake.phone_number()
            return _fullwidth(phone) if rng.random() < 0.05 else phone
        if slot == "iban":
            return _spaced(fake.iban(), rng)
        if slot == "card":
            return _spaced(fake.credit_card_number(), rng)
        if slot == "taxid":
            return steuer_id(rng)
        if slot == "nir":
            nir = self.fakers["fr_FR"].ssn()
            return f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}" \
                if rng.random() < 0.5 else nir
        if slot in ("dni", "nie"):
            return getattr(self.fakers["es_ES"], "nif" if slot == "dni" else "nie")()
        if slot == "cf":
            return self.fakers["it_IT"].ssn()
        if slot == "passport":
            return self.fakers["en_US"].passport_number()
        if slot == "ip":
            while True:
                ip = fake.ipv4_public() if rng.random() < 0.7 else fake.ipv6()
                if ipaddress.ip_address(ip).is_global:
                    return ip
        if slot == "account":
            return rng.choice([fake.bothify("KD-#######"), fake.bothify("C########"), str(rng.randint(10**6, 10**9))])
        if slot == "dob":
            day = fake.date_of_birth(minimum_age=18, maximum_age=90)
            return day.strftime(rng.choice(["%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d", "%d %B %Y"]))
        if slot == "order":
            return fake.bothify(rng.choice(["NH-######", "A-#####", "#########"]))
        if slot == "price":
            return rng.choice([f"{rng.randint(5, 3000)},{rng.randint(0, 99):02d} EUR", f"€{rng.randint(5, 900)}.99"])
        if slot == "date":
            return fake.date_between("-1y", "+30d").strftime(rng.choice(["%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y"]))
        if slot == "product":
            return f"{fake.city().split()[0]} {rng.choice(['lamp', 'rug', 'Sessel', 'table', 'vase', 'Regal'])}"
        if slot == "qty":
            return str(rng.randint(1, 40))
        if slot == "city_plain":
            return f"{fake.postcode()} {fake.city()}"
        if slot == "private_ip":
            return rng.choice(["192.168.0.", "10.0.0.", "172.16.4."]) + str(rng.randint(2, 250))
        if slot == "company":
            return fake.company()
        if slot == "weekday":
            return fake.day_of_week()
        if slot == "year":
            return str(rng.randint(2015, 2027))
        raise KeyError(slot)

    def row(self) -> Row:
        language = self.rng.choice(sorted(LOCALES))
        fake = self.fakers[self.rng.choice(LOCALES[language])]
        template = self.rng.choice(TEMPLATES[language])
        person = (fake.first_name(), fake.last_name())
        text, entities, pos = "", [], 0
        for m in re.finditer(r"\{(\w+)\}", template):
            text += template[pos:m.start()]
            value = self.value(m.group(1), fake, person)
            if SLOTS[m.group(1)]:
                entities.append((len(text), len(text) + len(value), SLOTS[m.group(1)]))
            text += value
            pos = m.end()
        return Row(text + template[pos:], language, entities)


def corpus(n: int, seed: int = 0) -> list[Row]:
    gen = Generator(seed)
    return [gen.row() for _ in range(n)]
