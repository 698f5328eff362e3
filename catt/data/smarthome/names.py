"""Name and device-name inventories of the smart-home corpus, split into seen and held-out sides.

Contacts are first names (optionally with a last name) drawn from real spellings, rare names and
invented ones. Real names come in homophone groups (``caitlin / katelyn / kaitlyn``): within a
group one spelling is held out for dev/test households, the others are left to training, so only
the user's list can say which spelling a test speaker means. Device names are custom names made of
a qualifier and a device noun (``noodle lamp``) or a title and a nickname (``mister frosty``).

Every held-out word (first name, last name, device qualifier, nickname) is checked against every
word that training text can contain, in all languages, so a held-out phrase never occurs in any
training utterance.

>>> inv = build_inventories(seed=0)
>>> sorted(inv)
['en', 'es', 'fr']
>>> side = inv["en"].heldout
>>> side.first_names[0] in inv["en"].seen.first_names
False
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Mapping, Sequence, Tuple

__all__ = [
    "LANGUAGES",
    "Device",
    "NamePools",
    "LanguageInventory",
    "build_inventories",
    "invented_word",
]

LANGUAGES: Tuple[str, ...] = ("en", "es", "fr")

# Homophone or near-homophone spellings share a line; single names are rare or plain ones.
_FIRST: Dict[str, str] = {
    "en": """caitlin katelyn kaitlyn caitlyn | stephen steven | jon john | sean shawn shaun
        | catherine katherine kathryn | sara sarah | megan meghan meagan | aidan aiden aydan
        | brian bryan | jeffrey geoffrey | alan allan allen | rachel rachael | eric erik erick
        | madeline madeleine madelyn | zoe zoey | haley hailey hayley | ashley ashleigh
        | kayleigh kaylee kaley | mackenzie mckenzie | nicholas nicolas nikolas | philip phillip
        | marc mark | carl karl | cathy kathy | lindsay lindsey | jasmine jazmin
        | isabel isobel isabelle | teresa theresa | jayden jaden jaiden | kristen kristin
        | zebulon | thaddeus | ottoline | evander | lysander | wilhelmina | cosima | ignatius
        | peregrine | araminta | barnaby | oona | tamsin | jolyon | imogen | caspian | saoirse
        | niamh | siobhan | eamon | declan | priya | anjali | oluwaseun | chidi | yuki | hiroshi""",
    "es": """javier xavier | yolanda iolanda | isabel ysabel izabel | jessica yésica yessica
        | jenifer yénifer | vanesa vanessa | verónica berónica | cecilia sesilia | zoila soila
        | ximena jimena | joel yoel | evelyn evelin | yeray jeray | lucía lusía | begoña begonia
        | bárbara várbara | valeria baleria | elvira elbira | gerardo jerardo | iván ibán
        | eulalia | gumersindo | eustaquio | ifigenia | nicanor | filomena | leocadia | casimiro
        | aitana | itziar | ainhoa | iker | unai | nahia | xoán | uxía | maite | amaia | ander
        | fermín | remedios | consuelo | wenceslao | hermenegildo | tránsito | dolores""",
    "fr": """mathieu matthieu | laurent lorent | michèle michelle | rémi rémy | sophie sofie
        | thierry thiery | danièle danielle | frédéric frédérick | cédric sédric | karine carine
        | coralie koralie | nathalie natalie | stéphane stéfane | joël joëlle | aurélie orélie
        | raphaël rafaël | gaël gaëlle | maël maëlle | anaïs anaïsse | kévin kevyn
        | clothilde clotilde
        | eudoxie | anselme | honorine | philibert | ermengarde | théodule | sidonie | gontran
        | bérénice | apolline | faustine | gwenaëlle | enguerrand | tiphaine | ysaline | maïwenn
        | corentin | gaspard | léontine | romuald | capucine | perrine | blandine""",
}

_LAST: Dict[str, str] = {
    "en": """smith smyth | reid reed read | thompson thomson | clark clarke | meyer meier myer
        | anderson andersen | phillips philips | carr kerr | stewart stuart | mcdonald macdonald
        | byrne burn | fitzgerald | quackenbush | oyelaran | nakashima | kowalczyk | vanderbilt
        | featherstone | abernathy | okonkwo | lindqvist | papadopoulos | ferreira | nguyen
        | ashworth | blackwood | pennington | whitlock | hargreaves | cholmondeley""",
    "es": """jiménez giménez ximénez | vázquez vásquez | velasco belasco | cervantes servantes
        | gonzález gonsález | hernández ernández | zapata sapata | villalobos billalobos
        | ybarra ibarra | valdés valdez | echeverría etxeberria | urquijo | goikoetxea
        | zubizarreta | arrizabalaga | quiroga | sepúlveda | carvajal | benavides | oyarzun
        | mondragón | altamirano | cifuentes | bustamante | llorente | santisteban""",
    "fr": """lefèvre lefebvre | moreau moreaux | perrault perreault | thibault thibaut
        | renault renaud | dupont dupond | bertrand bertrant | rousseau roussot | fournier fourniez
        | quincampoix | vauquelin | pfeiffer | delacroix | beauchamp | desrosiers | kerhervé
        | lagarde | montgolfier | chassagne | vercingétorix | bouvier | tremblay | lachance""",
}

# Device nouns with their grammatical gender (m/f; English has none).
_NOUNS: Dict[str, str] = {
    "en": """lamp light lights fan heater tv speaker plug kettle blinds thermostat humidifier
        radio purifier nightlight projector""",
    "es": """lámpara:f luz:f ventilador:m calefactor:m tele:f televisión:f altavoz:m enchufe:m
        cafetera:f persiana:f radio:f estufa:f humidificador:m termostato:m hervidor:m
        proyector:m""",
    "fr": """lampe:f lumière:f ventilateur:m radiateur:m télé:f chauffage:m store:m prise:f
        cafetière:f bouilloire:f veilleuse:f guirlande:f purificateur:m radio:f thermostat:m
        projecteur:m""",
}

# Titles that start a nickname device (``mister frosty``), with gender.
_TITLES: Dict[str, str] = {
    "en": "mister miss captain doctor lady professor",
    "es": "señor:m doña:f don:m capitán:m señorita:f doctor:m",
    "fr": "monsieur:m madame:f capitaine:m docteur:m mademoiselle:f baron:m",
}

# Qualifiers (``noodle lamp``) and nicknames (``mister frosty``); both split seen/held-out.
_QUALIFIERS: Dict[str, str] = {
    "en": """noodle disco cozy kitchen bedroom hallway garage porch attic basement office nursery
        reading sunshine banana cactus pickle waffle marshmallow pumpkin jellybean thunder rocket
        velvet ginger pepper biscuit bubble twinkle moonbeam pebble walrus unicorn dragon tiger
        lagoon meadow comet""",
    "es": """fideo disco cocina salón pasillo garaje terraza ático oficina lectura sol plátano
        cactus pepino gofre calabaza trueno cohete terciopelo jengibre burbuja luna tigre dragón
        unicornio chispa nube caramelo tornado canela lagarto morsa cometa""",
    "fr": """nouille disco cuisine salon couloir garage terrasse grenier bureau lecture soleil
        banane cactus cornichon gaufre citrouille tonnerre fusée velours gingembre bulle lune tigre
        dragon licorne nuage caramel tornade cannelle morse comète""",
}

_NICKS: Dict[str, str] = {
    "en": """frosty breezy sparky toasty chilly fluffy bubbles sunny whiskers zappy drizzle
        snuggles blinky glimmer puddles sprinkles wiggles muffin biscuit noodles""",
    "es": """frío brisa chispita pelusa bombón copito burbujas rayito churro tostado bigotes
        ventisca lucero pompón garbanzo pimpollo""",
    "fr": """givre frimas zéphyr brindille bisou flocon pompon grignotte chouquette radis bidule
        frisquet loupiote moustache nougat praline""",
}

# Syllables for invented names, language by language.
_SYLLABLES: Dict[str, Tuple[str, str, str]] = {
    "en": (
        "b c d f g h j k l m n p r s t v w z br cl dr fl gr kr sh st tr",
        "a e i o u a e i o ai ee oo y",
        "- - - - - n l r s x nd",
    ),
    "es": (
        "b c d f g j l m n p r s t v z ch ll ñ br tr",
        "a e i o u a e o ia",
        "- - - - - n s l r",
    ),
    "fr": (
        "b ch d f g j l m n p r s t v br gr",
        "a e é i o a ou au ai",
        "- - - - - n l r s",
    ),
}


SEEN_INVENTED = 6000
"""Invented words per language on the seen side: so many that an invented training name is
heard in about one utterance, as a real user's rare names are. The model cannot learn them by
heart; it has to spell what it hears and read the phrase list, which is what biasing needs."""

HELDOUT_INVENTED = 200
"""Invented words per language on the held-out side (dev and test households)."""

ADAPT_INVENTED = 600
"""Invented words per language for the ``adapt`` households, found in no other split: the
biasing stage of training learns there to read names the transducer has never heard, which is
what it must do at test time (a name heard in training the transducer knows by heart)."""

# Spelling changes that keep a name's sound (``caitlin`` -> ``caytlin``): the adapt households'
# real names are seen names respelled so, as a test household's are the held-out spelling of a
# homophone group (:func:`respell`).
_RESPELLINGS: Dict[str, str] = {  # "a=b": a -> b and b -> a; "a>b": a -> b only
    "en": "y=i ph=f ck>k c=k ey>y ie>y ll=l tt=t nn=n ee=ea ai=ay s>ss",
    "es": "v=b ll=y z=s ce>se ci>si qu>k ca>ka co>ko i>y h> j>g",
    "fr": "ph=f y=i ll=l tt=t nn=n eau>o au>o c>k qu>k",
}


@dataclass(frozen=True)
class Device:
    """A device name and the gender its article agrees with (``m``/``f``; ``-`` in English)."""

    name: str
    gender: str


@dataclass(frozen=True)
class NamePools:
    """The words one side (seen or held-out) may use to build contacts and device names."""

    first_names: Tuple[str, ...]
    last_names: Tuple[str, ...]
    qualifiers: Tuple[str, ...]
    nicknames: Tuple[str, ...]
    invented: Tuple[str, ...]
    """Invented words, usable as any part of a name (``zorvin``, ``truebul``)."""

    def words(self) -> FrozenSet[str]:
        """Every word of the pools."""
        pools = (self.first_names, self.last_names, self.qualifiers, self.nicknames, self.invented)
        return frozenset(w for pool in pools for name in pool for w in name.split())

    def pick(self, pool: Tuple[str, ...], rng: random.Random, invented: float) -> str:
        """A word of ``pool``, or with probability ``invented`` an invented word."""
        if not pool or (self.invented and rng.random() < invented):
            return rng.choice(self.invented or pool)
        return rng.choice(pool)


@dataclass(frozen=True)
class LanguageInventory:
    """One language's name pools: ``seen`` for training households, ``heldout`` for dev/test,
    ``adapt`` (seen names respelled, new invented words) for the adapt split."""

    lang: str
    seen: NamePools
    heldout: NamePools
    nouns: Tuple[Tuple[str, str], ...]
    titles: Tuple[Tuple[str, str], ...]
    adapt: NamePools = NamePools((), (), (), (), ())

    def shared_words(self) -> FrozenSet[str]:
        """Words both sides use (device nouns and titles)."""
        return frozenset(w for name, _ in self.nouns + self.titles for w in name.split())

    def make_device(self, pools: NamePools, rng: random.Random) -> Device:
        """A custom device name from ``pools``: ``noodle lamp``, ``lámpara fideo``, ``mister
        frosty``. It never starts with an article (carrier text holds the article)."""
        if rng.random() < 0.3:
            title, gender = rng.choice(self.titles)
            return Device(f"{title} {pools.pick(pools.nicknames, rng, 0.3)}", gender)
        noun, gender = rng.choice(self.nouns)
        qualifier = pools.pick(pools.qualifiers, rng, 0.25)
        name = f"{qualifier} {noun}" if self.lang == "en" else f"{noun} {qualifier}"
        return Device(name, gender)

    def make_contact(self, pools: NamePools, rng: random.Random) -> str:
        """A contact: a first name, usually followed by a last name."""
        first = pools.pick(pools.first_names, rng, 0.3)
        if rng.random() < 0.15:
            return first
        return f"{first} {pools.pick(pools.last_names, rng, 0.4)}"


def invented_word(lang: str, rng: random.Random, syllables: Sequence[int] = (2, 2, 3)) -> str:
    """An invented, pronounceable word in the spelling habits of ``lang`` (e.g. ``zorvith``).

    >>> invented_word("en", random.Random(1)).isalpha()
    True
    """
    onsets, vowels, codas = (part.split() for part in _SYLLABLES[lang])
    parts = []
    for _ in range(rng.choice(list(syllables))):
        coda = rng.choice(codas)
        parts.append(rng.choice(onsets) + rng.choice(vowels) + ("" if coda == "-" else coda))
    return "".join(parts)


def _respellings(lang: str) -> List[Tuple[str, str]]:
    """``lang``'s spelling changes as (old, new) pairs.

    >>> _respellings("fr")[:3]
    [('ph', 'f'), ('f', 'ph'), ('y', 'i')]
    """
    pairs = []
    for item in _RESPELLINGS[lang].split():
        if "=" in item:
            a, b = item.split("=")
            pairs += [(a, b), (b, a)]
        else:
            a, b = item.split(">")
            pairs.append((a, b))
    return pairs


def respell(lang: str, word: str, rng: random.Random) -> str:
    """``word`` with one of ``lang``'s sound-keeping spelling changes, drawn by ``rng`` among
    those that apply (``word`` itself when none does).

    >>> respell("en", "stuart", random.Random(0)) != "stuart"
    True
    """
    options = [(old, new) for old, new in _respellings(lang) if old in word[1:]]
    if not options:
        return word
    old, new = rng.choice(options)
    starts = [i for i in range(1, len(word)) if word.startswith(old, i)]
    i = rng.choice(starts)
    return word[:i] + new + word[i + len(old) :]


def _respelled(
    lang: str, names: Iterable[str], rng: random.Random, taken: FrozenSet[str]
) -> Tuple[str, ...]:
    """One new spelling of each name (word by word) that is no word of ``taken``."""
    out = []
    for name in names:
        words = [respell(lang, w, rng) for w in name.split()]
        if all(len(w) > 1 and not _TRIPLE.search(w) for w in words) and not set(words) & taken:
            out.append(" ".join(words))
    return tuple(dict.fromkeys(out))


def _groups(spec: str) -> List[List[str]]:
    return [group.split() for group in spec.split("|") if group.strip()]


def _gendered(spec: str) -> Tuple[Tuple[str, str], ...]:
    out = []
    for item in spec.split():
        word, _, gender = item.partition(":")
        out.append((word, gender or "-"))
    return tuple(out)


def _split_groups(groups: List[List[str]], rng: random.Random) -> Tuple[List[str], List[str]]:
    """One spelling of each homophone group held out; a quarter of the single names too."""
    seen: List[str] = []
    heldout: List[str] = []
    for group in groups:
        group = list(group)
        if len(group) > 1:
            heldout.append(group.pop(rng.randrange(len(group))))
            seen.extend(group)
        elif rng.random() < 0.25:
            heldout.extend(group)
        else:
            seen.extend(group)
    return seen, heldout


def _split_words(words: List[str], rng: random.Random) -> Tuple[List[str], List[str]]:
    words = list(words)
    rng.shuffle(words)
    cut = max(1, len(words) // 3)
    return sorted(words[cut:]), sorted(words[:cut])


_TRIPLE = re.compile(r"(.)\1\1")


def _invented(lang: str, rng: random.Random, count: int, taken: set) -> List[str]:
    out: List[str] = []
    while len(out) < count:
        word = invented_word(lang, rng)
        if 4 <= len(word) <= 10 and word not in taken and not _TRIPLE.search(word):
            taken.add(word)
            out.append(word)
    return out


def _language_inventory(lang: str, rng: random.Random, taken: set) -> LanguageInventory:
    first = _split_groups(_groups(_FIRST[lang]), rng)
    last = _split_groups(_groups(_LAST[lang]), rng)
    qualifiers = _split_words(_QUALIFIERS[lang].split(), rng)
    nicknames = _split_words(_NICKS[lang].split(), rng)
    sides = [
        NamePools(
            tuple(first[side]),
            tuple(last[side]),
            tuple(qualifiers[side]),
            tuple(nicknames[side]),
            tuple(_invented(lang, rng, count, taken)),
        )
        for side, count in ((0, SEEN_INVENTED), (1, HELDOUT_INVENTED))
    ]
    return LanguageInventory(
        lang=lang,
        seen=sides[0],
        heldout=sides[1],
        nouns=_gendered(_NOUNS[lang]),
        titles=_gendered(_TITLES[lang]),
    )


def _drop_words(pools: NamePools, forbidden: FrozenSet[str]) -> NamePools:
    def keep(names: Iterable[str]) -> Tuple[str, ...]:
        return tuple(n for n in names if not set(n.split()) & forbidden)

    return NamePools(
        keep(pools.first_names),
        keep(pools.last_names),
        keep(pools.qualifiers),
        keep(pools.nicknames),
        keep(pools.invented),
    )


def build_inventories(
    seed: int, carrier_words: Iterable[str] = ()
) -> Mapping[str, LanguageInventory]:
    """Name inventories of every language, deterministic for ``seed``.

    A held-out word is dropped when training text of any language could contain it: a seen
    name, a device noun or title, or one of ``carrier_words`` (the grammar's own words). The
    adapt words are none of these, nor a held-out word.
    """
    rng = random.Random(f"smarthome-names-{seed}")
    specs = [s for table in (_FIRST, _LAST, _QUALIFIERS, _NICKS) for s in table.values()]
    taken = {w for s in specs for w in s.replace("|", " ").split()}  # invented words avoid these
    raw = {lang: _language_inventory(lang, rng, taken) for lang in LANGUAGES}
    forbidden = set(carrier_words)
    for inv in raw.values():
        forbidden |= inv.seen.words() | inv.shared_words()
    frozen = frozenset(forbidden)
    # Drawn last and from their own stream, so that the other sides do not depend on them.
    taken |= forbidden | {w for inv in raw.values() for w in inv.heldout.words()}
    return {
        lang: LanguageInventory(
            lang=inv.lang,
            seen=inv.seen,
            heldout=_drop_words(inv.heldout, frozen),
            nouns=inv.nouns,
            titles=inv.titles,
            adapt=_adapt_pools(lang, inv.seen, seed, taken),
        )
        for lang, inv in raw.items()
    }


def _adapt_pools(lang: str, seen: NamePools, seed: int, taken: set) -> NamePools:
    """The adapt side: the seen names respelled and new invented words, none of them a word of
    another side (``taken``)."""
    rng = random.Random(f"smarthome-names-{seed}-adapt-{lang}")
    invented = tuple(_invented(lang, rng, ADAPT_INVENTED, taken))
    frozen = frozenset(taken)
    real = (seen.first_names, seen.last_names, seen.qualifiers, seen.nicknames)
    return NamePools(*(_respelled(lang, pool, rng, frozen) for pool in real), invented)
