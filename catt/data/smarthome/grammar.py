"""Spoken commands of the smart-home corpus: intents, phrasings and slots in en, es and fr.

A template is a phrasing with placeholders: ``{contact}`` and ``{device}`` take a phrase of the
household's lists; ``{number}``, ``{duration}`` and ``{city}`` take a value of the language's
tables; ``{det}`` is the definite article agreeing with the device (``el``/``la``, ``le``/``la``).
Text is lower case with accents and no punctuation; every slot records its character offsets.

>>> g = GRAMMARS["en"]
>>> text, slots = g.render("call {contact} on the mobile", {"contact": "kaitlyn fitzgerald"})
>>> text
'call kaitlyn fitzgerald on the mobile'
>>> slots
[{'type': 'contact', 'value': 'kaitlyn fitzgerald', 'start': 5, 'end': 23}]
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

__all__ = [
    "Grammar",
    "GRAMMARS",
    "INTENT_WEIGHTS",
    "ENTITY_SLOTS",
    "VALUE_SLOTS",
    "carrier_words",
]

ENTITY_SLOTS: Tuple[str, ...] = ("contact", "device")
"""Slots whose values come from the household's phrase lists (the biased ones)."""

VALUE_SLOTS: Tuple[str, ...] = ("number", "duration", "city")
"""Slots whose values come from the language's own tables."""

# How often each intent is drawn; the last six have no contact or device ("false biasing").
INTENT_WEIGHTS: Dict[str, float] = {
    "call_contact": 0.20,
    "message_contact": 0.15,
    "turn_on": 0.12,
    "turn_off": 0.12,
    "set_device": 0.10,
    "get_time": 0.06,
    "get_weather": 0.07,
    "set_timer": 0.06,
    "cancel_timer": 0.03,
    "get_date": 0.03,
    "play_music": 0.03,
    "tell_joke": 0.03,
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")

_EN = {
    "call_contact": """call {contact} | call {contact} on the mobile | phone {contact}
        | give {contact} a call | please call {contact} | can you call {contact} for me
        | dial {contact} | ring {contact} at home | start a video call with {contact}""",
    "message_contact": """send a message to {contact} | text {contact} that i am running late
        | message {contact} saying see you soon | tell {contact} that dinner is ready
        | send {contact} a text | write to {contact} and say thank you
        | let {contact} know i am on my way""",
    "turn_on": """turn on the {device} | switch on the {device} | turn the {device} on
        | please turn on the {device} | can you switch the {device} on | start the {device}
        | power up the {device}""",
    "turn_off": """turn off the {device} | switch off the {device} | turn the {device} off
        | shut off the {device} | please switch the {device} off | power down the {device}""",
    "set_device": """set the {device} to {number} percent | set the {device} to {number}
        | put the {device} at {number} percent | change the {device} to {number}
        | adjust the {device} to {number} percent""",
    "get_time": """what time is it | what is the time | tell me the time | what time is it now
        | do you know what time it is""",
    "get_weather": """what is the weather like | what is the weather in {city}
        | will it rain today | is it going to rain in {city} tomorrow | how cold is it outside
        | what is the forecast for {city}""",
    "set_timer": """set a timer for {duration} | start a timer for {duration}
        | remind me in {duration} | wake me up in {duration}""",
    "cancel_timer": "cancel the timer | stop the timer | delete my timer",
    "get_date": "what is the date today | what day is it | which day is it today",
    "play_music": "play some music | play some jazz | put on some relaxing music | play the radio",
    "tell_joke": "tell me a joke | say something funny | make me laugh",
}

_ES = {
    "call_contact": """llama a {contact} | llama a {contact} al móvil | marca a {contact}
        | haz una llamada a {contact} | por favor llama a {contact} | puedes llamar a {contact}
        | telefonea a {contact} | videollamada con {contact}""",
    "message_contact": """manda un mensaje a {contact}
        | envía un mensaje a {contact} diciendo que llego tarde
        | escribe a {contact} que la cena está lista | dile a {contact} que ya voy
        | mándale un mensaje a {contact} | envía un whatsapp a {contact}""",
    "turn_on": """enciende {det} {device} | prende {det} {device} | activa {det} {device}
        | por favor enciende {det} {device} | puedes encender {det} {device}
        | conecta {det} {device}""",
    "turn_off": """apaga {det} {device} | desactiva {det} {device} | por favor apaga {det} {device}
        | puedes apagar {det} {device} | desconecta {det} {device}""",
    "set_device": """pon {det} {device} al {number} por ciento | ajusta {det} {device} a {number}
        | sube {det} {device} a {number} | baja {det} {device} al {number} por ciento
        | cambia {det} {device} a {number}""",
    "get_time": """qué hora es | dime la hora | qué hora es ahora | me dices la hora
        | sabes qué hora es""",
    "get_weather": """qué tiempo hace | qué tiempo hace en {city} | va a llover hoy
        | va a llover mañana en {city} | cuál es el pronóstico para {city} | hace frío fuera""",
    "set_timer": """pon un temporizador de {duration} | pon una alarma en {duration}
        | avísame en {duration} | despiértame en {duration}""",
    "cancel_timer": "cancela el temporizador | quita la alarma | borra el temporizador",
    "get_date": "qué día es hoy | cuál es la fecha de hoy | a qué fecha estamos",
    "play_music": "pon música | pon algo de jazz | pon música relajante | pon la radio",
    "tell_joke": "cuéntame un chiste | dime algo gracioso | hazme reír",
}

_FR = {
    "call_contact": """appelle {contact} | appelle {contact} sur son portable
        | téléphone à {contact} | passe un coup de fil à {contact} | tu peux appeler {contact}
        | compose le numéro de {contact} | lance un appel vidéo avec {contact}""",
    "message_contact": """envoie un message à {contact}
        | écris à {contact} que je suis en retard | dis à {contact} que le dîner est prêt
        | envoie un texto à {contact} | préviens {contact} que je suis en route""",
    "turn_on": """allume {det} {device} | mets en marche {det} {device} | active {det} {device}
        | tu peux allumer {det} {device} | démarre {det} {device}""",
    "turn_off": """éteins {det} {device} | coupe {det} {device} | désactive {det} {device}
        | tu peux éteindre {det} {device} | arrête {det} {device}""",
    "set_device": """règle {det} {device} à {number} pour cent | mets {det} {device} à {number}
        | monte {det} {device} à {number} | baisse {det} {device} à {number} pour cent""",
    "get_time": """quelle heure est il | il est quelle heure | tu peux me dire quelle heure il est
        | quelle heure est il maintenant""",
    "get_weather": """quel temps fait il | quel temps fait il à {city} | il va pleuvoir demain
        | quelle est la météo à {city} | quelles sont les prévisions pour {city}
        | il fait froid dehors""",
    "set_timer": """mets un minuteur de {duration} | lance un minuteur pour {duration}
        | rappelle moi dans {duration} | réveille moi dans {duration}""",
    "cancel_timer": "annule le minuteur | arrête le minuteur | supprime le minuteur",
    "get_date": "quel jour sommes nous | quelle est la date du jour | on est quel jour",
    "play_music": "mets de la musique | joue du jazz | mets la radio | mets de la musique calme",
    "tell_joke": "raconte moi une blague | dis moi quelque chose de drôle | fais moi rire",
}

_VALUES = {
    "en": {
        "number": """five | ten | fifteen | eighteen | twenty | twenty two | twenty five | thirty
            | forty | fifty | sixty | seventy | seventy five | eighty | ninety | one hundred""",
        "duration": """two minutes | three minutes | five minutes | ten minutes | fifteen minutes
            | twenty minutes | thirty minutes | forty five minutes | one hour | two hours
            | thirty seconds | ninety seconds""",
        "city": """london | boston | chicago | seattle | dublin | sydney | toronto | edinburgh
            | denver | new york | san francisco | manchester""",
    },
    "es": {
        "number": """cinco | diez | quince | dieciocho | veinte | veintidós | veinticinco | treinta
            | cuarenta | cincuenta | sesenta | setenta | setenta y cinco | ochenta | noventa
            | cien""",
        "duration": """dos minutos | tres minutos | cinco minutos | diez minutos | quince minutos
            | veinte minutos | media hora | una hora | dos horas | treinta segundos
            | cuarenta y cinco minutos""",
        "city": """madrid | sevilla | bogotá | lima | barcelona | buenos aires | valencia | quito
            | santiago | málaga | monterrey | guadalajara""",
    },
    "fr": {
        "number": """cinq | dix | quinze | dix huit | vingt | vingt deux | vingt cinq | trente
            | quarante | cinquante | soixante | soixante dix | soixante quinze | quatre vingts
            | quatre vingt dix | cent""",
        "duration": """deux minutes | trois minutes | cinq minutes | dix minutes | quinze minutes
            | vingt minutes | trente minutes | une heure | deux heures | trente secondes
            | quarante cinq minutes""",
        "city": """paris | lyon | marseille | bordeaux | lille | bruxelles | genève | montréal
            | nantes | toulouse | strasbourg | québec""",
    },
}

# The definite article before a device name, by the device's gender.
_ARTICLES: Dict[str, Dict[str, str]] = {
    "en": {},
    "es": {"m": "el", "f": "la"},
    "fr": {"m": "le", "f": "la"},
}


def _alternatives(spec: str) -> Tuple[str, ...]:
    return tuple(" ".join(alt.split()) for alt in spec.split("|") if alt.strip())


@dataclass(frozen=True)
class Grammar:
    """One language's templates (``{intent: phrasings}``), value tables and articles."""

    lang: str
    templates: Mapping[str, Tuple[str, ...]]
    values: Mapping[str, Tuple[str, ...]]
    articles: Mapping[str, str]

    def sample_intent(self, rng: random.Random) -> str:
        """An intent drawn with :data:`INTENT_WEIGHTS`."""
        names = list(INTENT_WEIGHTS)
        return rng.choices(names, weights=[INTENT_WEIGHTS[n] for n in names])[0]

    def slot_types(self, template: str) -> List[str]:
        """The slot placeholders of ``template`` in order (``det`` is not a slot)."""
        return [name for name in _PLACEHOLDER.findall(template) if name != "det"]

    def render(
        self, template: str, fillers: Mapping[str, str], gender: Optional[str] = None
    ) -> Tuple[str, List[Dict[str, object]]]:
        """Fill ``template``; return the text and its slots with character offsets.

        Args:
            template: a phrasing with ``{slot}`` placeholders.
            fillers: the value of every slot placeholder.
            gender: the device's gender (``m``/``f``) for ``{det}``.
        """
        text = ""
        slots: List[Dict[str, object]] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(template):
            text += template[pos : match.start()]
            name = match.group(1)
            if name == "det":
                text += self.articles[gender or "m"]
            else:
                value = fillers[name]
                slots.append(
                    {
                        "type": name,
                        "value": value,
                        "start": len(text),
                        "end": len(text) + len(value),
                    }
                )
                text += value
            pos = match.end()
        return text + template[pos:], slots

    def sample_value(self, slot: str, rng: random.Random) -> str:
        """A value of a value slot (``number``, ``duration``, ``city``)."""
        return rng.choice(self.values[slot])

    def words(self) -> FrozenSet[str]:
        """Every word the grammar itself can say: carrier words, values and articles."""
        texts = [t for alts in self.templates.values() for t in alts]
        texts += [v for vals in self.values.values() for v in vals]
        texts += list(self.articles.values())
        return frozenset(w for t in texts for w in _PLACEHOLDER.sub(" ", t).split())


def _grammar(lang: str, spec: Mapping[str, str]) -> Grammar:
    templates = {intent: _alternatives(spec[intent]) for intent in INTENT_WEIGHTS}
    values = {slot: _alternatives(v) for slot, v in _VALUES[lang].items()}
    return Grammar(lang=lang, templates=templates, values=values, articles=_ARTICLES[lang])


GRAMMARS: Mapping[str, Grammar] = {
    "en": _grammar("en", _EN),
    "es": _grammar("es", _ES),
    "fr": _grammar("fr", _FR),
}


def carrier_words() -> FrozenSet[str]:
    """Every word any grammar can say, over all languages."""
    return frozenset().union(*(g.words() for g in GRAMMARS.values()))
