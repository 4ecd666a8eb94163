#!/usr/bin/env python3
"""Generate outcry's bundled sample CRM and social feed.

Writes, relative to the repository root:
  config/sample/customers.jsonl  one CRM customer record per line
  config/sample/feed.jsonl       one raw social event per line (X API v2 tweets, canonical
                                 events from other platforms, and some deliberately broken lines)

Everything is fictional: names, handles, ids, e-mail addresses (@example.com / @example.org),
phone numbers (the 555-01xx and Ofcom 07700 900xxx drama ranges) and the company "Acme".
Python 3 standard library only; deterministic (fixed seed), so running it twice gives
byte-identical files. Usage: python3 scripts/gen-sample.py
"""

import datetime as dt
import json
import os
import random
import re
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CUSTOMERS_PATH = os.path.join(ROOT, "config", "sample", "customers.jsonl")
FEED_PATH = os.path.join(ROOT, "config", "sample", "feed.jsonl")

rng = random.Random(20261124)

# How many lines of each shape the feed gets. The garbage count is len(GARBAGE) below.
X_EVENTS = 232
CANONICAL_EVENTS = 50
UNKNOWN_X_EVENTS = 56  # of X_EVENTS, from authors not in the CRM
UNKNOWN_CANONICAL_EVENTS = 14  # of CANONICAL_EVENTS, from authors not in the CRM

# The canonical vocabulary, as src/event.rs spells it. A direct message is kind "dm"; the
# community of an external platform is the default, so it is left out of the payload and only
# "owned" (the forum) is written.
KIND_DM = "dm"
COMMUNITY_OWNED = "owned"

FEED_START = dt.datetime(2026, 11, 20, 0, 0, 0)
FEED_END = dt.datetime(2026, 11, 22, 23, 59, 59)
# A regional fiber outage on the morning of the 21st: outage threads cluster here.
OUTAGE_START = dt.datetime(2026, 11, 21, 6, 40, 0)
OUTAGE_END = dt.datetime(2026, 11, 21, 10, 30, 0)

# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------

# (name, language, city, segment, is_business)
PEOPLE = [
    ("Maria Gonzalez", "en", "Austin, TX", "consumer"),
    ("José Álvarez", "es", "San Antonio, TX", "consumer"),
    ("Zoë Müller", "de", "Portland, OR", "consumer"),
    ("Aiko Tanaka", "en", "Seattle, WA", "consumer"),
    ("Olusegun Adeyemi", "en", "Houston, TX", "consumer"),
    ("Priya Raman", "en", "San Jose, CA", "consumer"),
    ("Liam O'Connor", "en", "Boston, MA", "consumer"),
    ("Chloé Lefèvre", "fr", "Burlington, VT", "consumer"),
    ("Mateo Rossi", "en", "Chicago, IL", "consumer"),
    ("Fatima Al-Sayed", "en", "Dearborn, MI", "consumer"),
    ("Nguyễn Thị Lan", "en", "Garden Grove, CA", "consumer"),
    ("Björn Halvorsen", "en", "Minneapolis, MN", "consumer"),
    ("Camila Duarte", "pt", "Miami, FL", "consumer"),
    ("Dmitri Volkov", "en", "Brooklyn, NY", "consumer"),
    ("Grace Kim", "en", "Los Angeles, CA", "consumer"),
    ("Hannah Schmidt", "en", "Denver, CO", "consumer"),
    ("Kwame Mensah", "en", "Atlanta, GA", "consumer"),
    ("Sofía Ramírez", "es", "Phoenix, AZ", "consumer"),
    ("Ethan Brooks", "en", "Nashville, TN", "consumer"),
    ("Amara Okafor", "en", "Raleigh, NC", "consumer"),
    ("Lucas Moreau", "fr", "New Orleans, LA", "consumer"),
    ("Ingrid Johansson", "en", "St. Paul, MN", "consumer"),
    ("Rahul Mehta", "en", "Jersey City, NJ", "small_business"),
    ("Emily Chen", "en", "San Francisco, CA", "consumer"),
    ("Diego Fernández", "es", "El Paso, TX", "consumer"),
    ("Noor Haddad", "en", "Arlington, VA", "consumer"),
    ("Oliver Bennett", "en", "Columbus, OH", "consumer"),
    ("Yuki Sato", "en", "Honolulu, HI", "consumer"),
    ("Gabriel Silva", "pt", "Newark, NJ", "consumer"),
    ("Ava Thompson", "en", "Kansas City, MO", "consumer"),
    ("Renée Dubois", "fr", "Montpelier, VT", "consumer"),
    ("Marcus Johnson", "en", "Detroit, MI", "consumer"),
    ("Tomás Herrera", "es", "Albuquerque, NM", "consumer"),
    ("Sarah Goldberg", "en", "Philadelphia, PA", "consumer"),
    ("Ji-woo Park", "en", "Fort Lee, NJ", "consumer"),
    ("Alejandro Cruz", "es", "San Diego, CA", "consumer"),
    ("Niamh Byrne", "en", "Providence, RI", "consumer"),
    ("Samuel Osei", "en", "Charlotte, NC", "consumer"),
    ("Lena Novak", "en", "Pittsburgh, PA", "consumer"),
    ("Élodie Martin", "fr", "Austin, TX", "consumer"),
    ("Bluebird Café", "en", "Austin, TX", "small_business"),
    ("Northwind Logistics", "en", "Dallas, TX", "enterprise"),
]

TIER_VALUE = {
    "standard": (40, 400),
    "silver": (400, 900),
    "gold": (900, 2500),
    "platinum": (3000, 15000),
}

# Second identities: platform -> how its user ids look.
SECOND_PLATFORMS = ["facebook", "instagram", "reddit", "forum"]


def ascii_fold(s):
    """'Zoë Müller' -> 'Zoe Muller'."""
    for a, b in (("ø", "o"), ("Ø", "O"), ("ß", "ss"), ("æ", "ae"), ("đ", "d"), ("Đ", "D")):
        s = s.replace(a, b)
    decomposed = unicodedata.normalize("NFKD", s)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_parts(name):
    words = re.sub(r"[^a-z ]", "", ascii_fold(name).lower().replace("-", " ")).split()
    return words[0], words[-1]


def make_handle(name, taken):
    first, last = name_parts(name)
    styles = [
        lambda: first + last[0],
        lambda: first + "_" + last,
        lambda: first[0] + last,
        lambda: first + last + str(rng.randrange(2, 99)),
        lambda: "the" + first + last[:3],
        lambda: first + "." + last,  # forum and instagram allow dots; fixed below for X
    ]
    while True:
        h = rng.choice(styles)()
        if h not in taken:
            taken.append(h)
            return h


def make_customers():
    n = len(PEOPLE)
    # Exactly four platinum accounts (the enterprise one among them), the rest weighted.
    platinum = sorted(rng.sample(range(1, n - 1), 3)) + [n - 1]
    customers = []
    handles = []
    x_seq = 0
    fb_seq, ig_seq, forum_seq = 77000, 5531000, 400
    # Who has which identities. Index 0 is the fixed example customer.
    no_x = set(rng.sample(range(1, n - 2), 5))  # social, but not on X
    with_second = set(rng.sample(range(1, n), 17)) | no_x
    no_social = {rng.choice([i for i in range(1, n - 2) if i not in with_second])}
    no_x -= no_social
    with_second -= no_social
    area_codes = ["512", "210", "503", "206", "713", "408", "617", "802", "312", "313", "714",
                  "612", "305", "718", "213", "303", "404", "602", "615", "919", "504", "651",
                  "201", "415", "915", "703", "614", "808", "973", "816", "802", "313", "505",
                  "215", "201", "619", "401", "704", "412", "512", "512", "214"]
    for i, (name, lang, city, segment) in enumerate(PEOPLE):
        cid = "C%d" % (1001 + i)
        if i in platinum:
            tier = "platinum"
        else:
            tier = rng.choices(["standard", "silver", "gold"], weights=[5, 3, 2])[0]
        lo, hi = TIER_VALUE[tier]
        value = float(round(rng.uniform(lo, hi) / 10) * 10)
        first, last = name_parts(name)
        if segment == "consumer":
            emails = ["%s.%s@%s" % (first, last, rng.choice(["example.com", "example.org"]))]
            if rng.random() < 0.2:
                emails.append("%s%s@example.org" % (first[0], last))
        else:
            emails = ["accounts@%s%s.example.com" % (first, last),
                      "it@%s%s.example.com" % (first, last)]
        phones = []
        if rng.random() < 0.85:
            phones.append("+1%s55501%02d" % (area_codes[i % len(area_codes)], i + 1))
        if rng.random() < 0.12:
            phones.append("+447700900%03d" % rng.randrange(0, 999))
        identities = []
        if i not in no_x and i not in no_social:
            x_seq += 1
            h = make_handle(name, handles).replace(".", "_")
            identities.append({"platform": "x", "user_id": str(1500000000 + x_seq),
                               "handle": h, "verified": rng.random() < 0.65})
        if i in with_second:
            platform = rng.choice(SECOND_PLATFORMS)
            if platform == "facebook":
                fb_seq += rng.randrange(1, 40)
                uid, h = "fb-%d" % fb_seq, None
            elif platform == "instagram":
                ig_seq += rng.randrange(1, 900)
                uid, h = "ig-%d" % ig_seq, make_handle(name, handles)
            elif platform == "reddit":
                uid = "t2_" + "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789")
                                      for _ in range(8))
                h = "u_" + make_handle(name, handles).replace(".", "_")
            else:
                forum_seq += rng.randrange(1, 60)
                uid, h = "forum-u%d" % forum_seq, make_handle(name, handles)
            ident = {"platform": platform, "user_id": uid}
            if h is not None:
                ident["handle"] = h
            ident["verified"] = rng.random() < 0.5
            identities.append(ident)
        customers.append({
            "id": cid,
            "name": name,
            "emails": emails,
            "phones": phones,
            "identities": identities,
            "tier": tier,
            "value": value,
            "segment": segment,
            "language": lang,
            "_city": city,
        })
    # The fixed example customer, matching the X normalizer's own test fixture.
    c = customers[0]
    c.update({"emails": ["maria.gonzalez@example.com"], "phones": ["+14155550101"],
              "tier": "gold", "value": 1200.0})
    c["identities"][0].update({"user_id": "1500000001", "handle": "mariag", "verified": True})
    return customers


# --------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------

SVC = ["internet", "wifi", "fiber", "5G", "mobile data", "home internet", "cell service",
       "TV & internet", "landline"]
DEV = ["router", "modem", "gateway", "set-top box", "mesh extender"]
COMP = ["Globex", "Initech Wireless", "Umbrella Fiber", "Hooli Mobile", "Vandelay Telecom"]
EMO_ANGRY = ["😡", "🙄", "😤", "🤬", "😭", "💀", ""]
EMO_HAPPY = ["🙏", "🎉", "❤️", "👍", "😊", "🙌", ""]
CITIES = ["Austin", "Round Rock", "Pflugerville", "Houston", "Denver", "Phoenix", "Chicago",
          "Seattle", "Atlanta", "Brooklyn", "San Jose", "Columbus"]

TEMPLATES = {
    "outage": [
        "{svc} is down again in {city}. Third time this week {emo}",
        "Is there an outage in {city}? My {dev} has been blinking red since {time}",
        "{svc} not working since this morning. I work from home, this is a joke",
        "No internet for {hours} hours now. Any ETA on the fix? #AcmeDown",
        "no signal at all downtown {city}, calls keep dropping {emo}",
        "My connection keeps dropping every 10 minutes. Rebooted the {dev} twice already",
        "Can't connect to anything. {dev} says offline, lights are all orange",
        "Whole street is offline. Is anyone at Acme even aware? #outage",
        "{svc} down for {hours}h &amp; your status page says all systems normal?? {emo}",
        "Still no internet. Kids can't do homework, I can't work. When will it be back?",
        "hey is the {svc} outage in {city} fixed yet? still down here",
        "5 bars but no service, can't connect to the network at all",
        "Internet keeps dropping during every video call, this is the 4th day in a row",
        "Power is back but the {dev} is still offline. Outage map shows nothing",
    ],
    "outage_followup": [
        "Still down. It has been {hours} hours now {emo}",
        "Tried everything the agent said. Still not working",
        "DM sent. Internet is still offline btw",
        "Update: it came back for 5 min and went down again",
        "Any news? Still no signal here in {city}",
    ],
    "billing": [
        "Why was I charged twice this month? Two identical payments of {amt} {emo}",
        "My bill went from {amt} to {amt2} with no explanation. What is this fee?",
        "bill > {amt2} this month for the same plan. Overcharged again?",
        "Still waiting on the refund you promised {days} days ago",
        "Got double charged for the {dev} rental. Please fix my invoice",
        "I've been overcharged {amt} for 3 months, who do I talk to about a refund?",
        "What is the 'network access fee' on my bill? Never agreed to that",
        "Autopay took {amt} twice. Need that refund before rent is due {emo}",
        "Paid my bill on time and still got a late fee. Explain please",
        "Your promo said {amt} a month, the invoice says {amt2}. Which one is it?",
        "Billing support hung up on me twice. I just want the duplicate charge reversed",
    ],
    "billing_followup": [
        "Sent my account number in DM. Still no refund",
        "Agent says the refund takes 2 billing cycles?? I need it now",
        "The charge is still on my statement {emo}",
    ],
    "cancellation": [
        "That's it, I'm switching to {comp}. Cancel my service today",
        "How do I close my account? Done with these outages",
        "Leaving Acme after 8 years. Nobody there seems to care {emo}",
        "Want to cancel, your website won't let me. What's the phone number?",
        "{comp} offered me the same speed for half. Give me one reason not to cancel",
        "Moving out of state, need to terminate my contract without penalties",
        "If this isn't fixed by Friday I'm cancelling everything",
    ],
    "cancellation_followup": [
        "Nobody replied so I'm switching to {comp}. Bye",
        "Please just cancel it. I don't want a retention offer",
    ],
    "safety": [
        "Your {dev} started to smoke and smell like burning plastic. This is a fire hazard!!",
        "A technician left a live cable across my driveway and my son tripped and got injured",
        "I'm talking to a lawyer about the damage your crew did to my roof",
        "If this isn't resolved I will take legal action. Third ticket, no response",
        "The power brick of the {dev} melted overnight. That is dangerous, people could die",
        "Your contractor cut my gas line marker. I'm going to sue if nobody calls me today",
    ],
    "safety_followup": [
        "Still waiting for a call. My lawyer has the photos",
        "Nobody called about the smoke from the {dev}. Unplugged it, kids are scared",
    ],
    "sales": [
        "How much is the 2 gig fiber plan in {city}?",
        "Thinking about an upgrade to the new plan, is there a discount for existing customers?",
        "What's the pricing for a business line with static IP?",
        "Is there a deal on {svc} if I bundle it with mobile?",
        "Looking to buy 3 extra lines for my family, can I get a quote?",
        "Does the new plan include the {dev}? Want to upgrade before the holidays",
        "Black Friday pricing on fiber? Asking for a neighbour &amp; me",
    ],
    "sales_followup": [
        "Ok and how much would the upgrade be per month after the promo?",
        "Thanks, can you send me the quote by email?",
    ],
    "praise_followup": [
        "All good now, thank you!",
        "Working again, thanks for the quick fix {emo}",
        "Sorted, thanks for the help",
        "Appreciate the fast reply, thanks {emo}",
    ],
    "general_followup": [
        "Ok, and does that also apply to the {dev}?",
        "Got it. Where do I find that in the app?",
        "Never mind, found it in the FAQ",
    ],
    "praise": [
        "Shoutout to the tech who came today, fixed it in 20 minutes. Great service!",
        "Thank you @acmecare, back online and faster than before {emo}",
        "Love the new fiber <3 900 Mbps and zero drops so far",
        "Honestly amazing support this time. Thanks Dana from the chat team",
        "Internet's back, thanks for the quick fix {emo}",
        "Awesome job on the install today, super clean work",
        "Well done Acme, the new app is actually good",
    ],
    "general": [
        "What time does the store on Main St open on Saturday?",
        "How do I change my wifi password from the app?",
        "Is the {dev} supposed to get this warm? Just curious",
        "Can I move my service to my new apartment next month?",
        "Do you support IPv6 on residential lines?",
        "How do I add my partner as an authorized user on the account?",
        "Where can I return the old {dev}?",
        "Is there a way to turn off the {dev} lights at night?",
        "Are the parental controls included or is that an add-on?",
        "Anyone know if the Acme app works on a tablet?",
        "Question: does Acme {svc} work with a VPN for my job?",
    ],
    "noise": [
        "lol my cat just sat on the {dev} and reset it",
        "GIVEAWAY 🎁 retweet &amp; follow to win an iPad!! f4f",
        "crypto to the moon 🚀🚀 nft drop tonight, link in bio",
        "follow back pls, new account lol",
        "check out my channel for {svc} speed tests lmao",
        "dm for promo 📈 crypto signals daily",
        "lmao the Acme van is parked in the bike lane again",
        "gm gm 🌞 nft holders where you at",
        "f4f f4f f4f 🔁",
    ],
}

TEMPLATES_ES = {
    "outage": [
        "Otra vez sin internet en {city} 😡 outage en todo el barrio",
        "El internet no funciona desde las {time}. ¿Hay una avería?",
        "Llevo {hours} horas sin señal. Internet down otra vez",
    ],
    "billing": [
        "Me cobraron dos veces este mes. Quiero un refund ya",
        "¿Por qué mi factura subió a {amt2}? Nadie me explica nada",
    ],
    "cancellation": [
        "Quiero cancelar mi servicio, me voy a {comp}",
        "Estoy switching to {comp}, ya no aguanto más",
    ],
    "praise": [
        "Muchas gracias al técnico, todo funciona perfecto 🙏",
        "¡Gracias Acme! Great service hoy ❤️",
    ],
    "general": [
        "¿Cómo cambio la contraseña del wifi?",
        "¿La tienda de {city} abre el domingo?",
    ],
}

TEMPLATES_FR = {
    "outage": [
        "Toujours pas d'internet à {city} depuis ce matin. Outage ? 😤",
        "La box est offline depuis {hours} heures, rien ne marche",
    ],
    "billing": [
        "J'ai été facturée deux fois ce mois-ci, je veux un refund svp",
        "Pourquoi ma facture est passée à {amt2} ?",
    ],
    "cancellation": [
        "Je veux résilier mon abonnement, je pars chez {comp}",
    ],
    "praise": [
        "Merci beaucoup, le technicien était super 👍",
        "Merci ! Tout fonctionne, thanks à l'équipe",
    ],
    "general": [
        "Comment je change le mot de passe du wifi ?",
        "Est-ce que la box fonctionne avec un VPN ?",
    ],
}

# Follow-ups within a thread: intent -> [(next intent, weight)]
NEXT = {
    "outage": [("outage_followup", 6), ("cancellation_followup", 1), ("praise_followup", 2)],
    "billing": [("billing_followup", 4), ("cancellation_followup", 1), ("praise_followup", 1)],
    "cancellation": [("cancellation_followup", 2), ("billing_followup", 1)],
    "safety": [("safety_followup", 3)],
    "sales": [("sales_followup", 3), ("praise_followup", 1)],
    "praise": [("praise", 1), ("general_followup", 1)],
    "general": [("general_followup", 2), ("praise_followup", 1)],
    "noise": [("noise", 1)],
}
FOLLOWUP_BASE = {k: k.replace("_followup", "") for k in TEMPLATES}


def fill(template, city, happy):
    amt = rng.randrange(45, 180)
    values = {
        "svc": rng.choice(SVC),
        "dev": rng.choice(DEV),
        "comp": rng.choice(COMP),
        "city": city or rng.choice(CITIES),
        "emo": rng.choice(EMO_HAPPY if happy else EMO_ANGRY),
        "hours": str(rng.randrange(2, 30)),
        "days": str(rng.randrange(5, 45)),
        "time": "%d:%02d" % (rng.randrange(5, 11), rng.choice([0, 15, 30, 45])),
        "amt": "$%d.%02d" % (amt, rng.choice([0, 49, 99])),
        "amt2": "$%d.%02d" % (amt + rng.randrange(20, 120), rng.choice([0, 49, 99])),
    }
    text = template.format(**values)
    return re.sub(r"\s+", " ", text).strip()


def compose(intent, lang, city, reply):
    """Text (HTML-unescaped, as a person typed it), its language, its planned intent."""
    base = FOLLOWUP_BASE.get(intent, intent)
    pool = None
    if lang == "es" and base in TEMPLATES_ES and rng.random() < 0.6:
        pool, lang_out = TEMPLATES_ES[base], "es"
    elif lang == "fr" and base in TEMPLATES_FR and rng.random() < 0.6:
        pool, lang_out = TEMPLATES_FR[base], "fr"
    else:
        pool, lang_out = TEMPLATES[intent], "en"
    text = fill(rng.choice(pool), city, base == "praise").replace("&amp;", "&")
    return text, lang_out, base


def decorate_x(text, intent, reply):
    """Make a typed text look like a tweet: @mention, hashtags; then X's HTML escaping."""
    if reply:
        if not text.startswith("@acmecare"):
            text = "@acmecare " + text
    elif intent != "noise":
        r = rng.random()
        if r < 0.55 and "@acmecare" not in text:
            text = "@acmecare " + text
        elif r < 0.7 and "@acmecare" not in text:
            text = text + " @acmecare"
    if intent == "outage" and "#" not in text and rng.random() < 0.3:
        text += " " + rng.choice(["#AcmeDown", "#outage", "#wfh"])
    if intent == "billing" and rng.random() < 0.15:
        text += " #customerservice"
    return text


def x_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------------------------
# Authors
# --------------------------------------------------------------------------------------------

UNKNOWN_NAMES = [
    "Jordan Reyes", "Casey Lin", "Morgan Blake", "Riley Carter", "Taylor Nguyen", "Jamie Fox",
    "Alex Petrov", "Sam Whitaker", "Dana Cole", "Chris Obi", "Pat Murphy", "Robin Hale",
    "Quinn Foster", "Avery Stone", "Drew Kaplan", "Skyler Moss", "Reese Park", "Jesse Ortiz",
    "Kendall Ross", "Logan Pierce", "Hayden Cruz", "Rowan Ellis", "Emerson Grey", "Finley Shaw",
    "Sage Romero", "Parker Lowe", "Blake Yoon", "Cameron Diaz-Ruiz", "Elliot Kerr", "Marisol Vega",
    "Aurélie Blanc", "Søren Dahl", "Kai Nakamura", "Lupita Morales", "Ines Carvalho",
    "Tariq Hussein", "Mei Wong", "crypto_king_99", "Giveaway Bot", "NFT Daily", "Bea Lindqvist",
    "Ruth Abernathy", "Omar Farouk", "Wren Delgado", "Theo Marchand",
]
UNKNOWN_HANDLE_SUFFIX = ["", "_tx", "88", "_", "x", "2026", "_real", "_wfh", "99"]
LOCATIONS = ["Austin, TX", "Round Rock, TX", "Houston, TX", "Denver, CO", "", "Earth 🌍",
             "Chicago, IL", "Seattle, WA", "NYC", "somewhere", "Phoenix, AZ", "Atlanta, GA"]


class Author:
    def __init__(self, platform, uid, handle, name, customer=None, email=None):
        self.platform = platform
        self.uid = uid
        self.handle = handle
        self.name = name
        self.customer = customer
        self.email = email
        self.x_verified = rng.random() < 0.08
        self.followers = int(rng.lognormvariate(5.3, 1.3))
        self.location = (customer or {}).get("_city") or rng.choice(LOCATIONS)
        self.lang = (customer or {}).get("language", "en")


def known_authors(customers):
    x_authors, other_authors, email_only = [], [], []
    for c in customers:
        for ident in c["identities"]:
            a = Author(ident["platform"], ident["user_id"], ident.get("handle"), c["name"], c)
            if rng.random() < 0.15 and c["segment"] == "consumer":
                a.name = c["name"].split()[0]  # display name is just the first name
            (x_authors if ident["platform"] == "x" else other_authors).append(a)
        if not c["identities"]:
            email_only.append(c)
    return x_authors, other_authors, email_only


def unknown_x_author(i, taken):
    name = UNKNOWN_NAMES[i % len(UNKNOWN_NAMES)]
    first, last = name_parts(name) if " " in name else (name.lower(), "")
    handle = (first + last[:4] + rng.choice(UNKNOWN_HANDLE_SUFFIX))[:15]
    uid = str(1600000000 + rng.randrange(1, 10 ** 9))
    while uid in taken:
        uid = str(1600000000 + rng.randrange(1, 10 ** 9))
    taken.append(uid)
    return Author("x", uid, handle, name)


def unknown_other_author(platform, i):
    name = UNKNOWN_NAMES[(i * 7 + 3) % len(UNKNOWN_NAMES)]
    first, last = name_parts(name) if " " in name else (name.lower(), "")
    if platform == "facebook":
        uid, handle = "fb-%d" % (91000 + rng.randrange(1, 8999)), None
    elif platform == "instagram":
        uid, handle = "ig-%d" % (8800000 + rng.randrange(1, 99999)), first + "." + last[:3]
    elif platform == "reddit":
        uid = "t2_" + "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(8))
        handle = "u_" + first + rng.choice(["_throwaway", "dad", "42", "_atx"])
    elif platform == "youtube":
        uid = "UC" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
                             for _ in range(22))
        handle = "@" + first + last[:2]
    elif platform == "review":
        uid, handle = "rv-%d" % (300000 + rng.randrange(1, 99999)), None
    else:
        uid, handle = "forum-u%d" % (2000 + rng.randrange(1, 7000)), first + last[:1]
    return Author(platform, uid, handle, name)


# --------------------------------------------------------------------------------------------
# Threads and events
# --------------------------------------------------------------------------------------------

INTENT_WEIGHTS_KNOWN = [("outage", 30), ("billing", 20), ("general", 12), ("sales", 8),
                        ("cancellation", 8), ("praise", 9), ("safety", 4), ("noise", 2)]
INTENT_WEIGHTS_UNKNOWN = [("outage", 22), ("billing", 8), ("general", 14), ("sales", 16),
                          ("cancellation", 5), ("praise", 6), ("safety", 2), ("noise", 24)]


def pick(weighted):
    names = [n for n, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(names, weights=weights)[0]


def random_time(start, end):
    span = int((end - start).total_seconds())
    return start + dt.timedelta(seconds=rng.randrange(span))


def split_counts(total, n, lo, hi, weights):
    """n counts in [lo, hi] that sum to total, drawn from weights over lo..hi."""
    counts = [rng.choices(range(lo, hi + 1), weights=weights)[0] for _ in range(n)]
    while sum(counts) != total:
        i = rng.randrange(n)
        if sum(counts) < total and counts[i] < hi:
            counts[i] += 1
        elif sum(counts) > total and counts[i] > lo:
            counts[i] -= 1
    return counts


def make_thread(author, length, weights, allowed_kinds=None):
    """A conversation by one author: its first post and up to length-1 follow-ups."""
    intent = pick(weights)
    if intent == "noise":
        length = min(length, 1)
    start_lo, start_hi = FEED_START, FEED_END - dt.timedelta(hours=8)
    if intent == "outage" and rng.random() < 0.45:
        start_lo, start_hi = OUTAGE_START, OUTAGE_END
    t = random_time(start_lo, start_hi)
    posts = []
    current = intent
    for k in range(length):
        if k > 0:
            current = pick(NEXT[FOLLOWUP_BASE.get(current, current)])
            t = t + dt.timedelta(seconds=rng.randrange(4 * 60, 150 * 60))
        city = None
        if author.customer and author.location and "," in author.location:
            city = author.location.split(",")[0]
        text, lang, planned = compose(current, author.lang, city, k > 0)
        posts.append({"t": t, "text": text, "lang": lang, "intent": planned, "reply": k > 0})
    return posts


def build_feed(customers):
    x_known, other_known, email_only = known_authors(customers)

    # Known X authors: most post, several post many times (ownership "attach").
    posting_x = [a for a in x_known if a.uid == "1500000001" or rng.random() < 0.88]
    known_x_total = X_EVENTS - UNKNOWN_X_EVENTS
    x_counts = split_counts(known_x_total, len(posting_x), 1, 9,
                            [10, 9, 9, 8, 7, 6, 4, 3, 2])
    threads = []  # (author, posts)
    for a, n in zip(posting_x, x_counts):
        while n > 0:
            length = min(n, rng.choice([1, 1, 2, 2, 3, 4]))
            threads.append((a, make_thread(a, length, INTENT_WEIGHTS_KNOWN)))
            n -= len(threads[-1][1])

    # Unknown X authors: mostly one-off, a few repeat.
    n_unknown_x = 40
    taken = []
    unknown_x = [unknown_x_author(i, taken) for i in range(n_unknown_x)]
    ux_counts = split_counts(UNKNOWN_X_EVENTS, n_unknown_x, 1, 4, [12, 3, 2, 1])
    for a, n in zip(unknown_x, ux_counts):
        while n > 0:
            length = min(n, rng.choice([1, 2, 3]))
            threads.append((a, make_thread(a, length, INTENT_WEIGHTS_UNKNOWN)))
            n -= len(threads[-1][1])

    # Known authors on other platforms, plus reviews matched by e-mail only.
    known_c_total = CANONICAL_EVENTS - UNKNOWN_CANONICAL_EVENTS
    email_reviewers = [Author("review", "rv-%d" % (200100 + i * 37), None, c["name"], c,
                              email=c["emails"][0])
                       for i, c in enumerate(email_only)]
    # A couple more reviewers who are X customers, matched by e-mail on the review site.
    for c in rng.sample([a.customer for a in x_known[1:]], 2):
        email_reviewers.append(Author("review", "rv-%d" % (200500 + len(email_reviewers) * 41),
                                      None, c["name"], c, email=c["emails"][0]))
    canon_authors = other_known + email_reviewers
    c_counts = split_counts(known_c_total - len(email_reviewers), len(other_known), 1, 4,
                            [6, 4, 2, 1]) + [1] * len(email_reviewers)
    for a, n in zip(canon_authors, c_counts):
        while n > 0:
            length = 1 if a.platform == "review" else min(n, rng.choice([1, 2, 3]))
            threads.append((a, make_thread(a, length, INTENT_WEIGHTS_KNOWN)))
            n -= len(threads[-1][1])

    # Unknown authors on other platforms.
    plats = ["facebook", "instagram", "reddit", "youtube", "review", "forum"]
    left = UNKNOWN_CANONICAL_EVENTS
    i = 0
    while left > 0:
        a = unknown_other_author(plats[i % len(plats)], i)
        length = 1 if a.platform == "review" else min(left, rng.choice([1, 1, 2]))
        threads.append((a, make_thread(a, length, INTENT_WEIGHTS_UNKNOWN)))
        left -= len(threads[-1][1])
        i += 1

    # Flatten to events with thread links; ids are assigned after sorting by time.
    events = []
    for tix, (author, posts) in enumerate(threads):
        kind_root = root_kind(author.platform)
        prev = None
        root = None
        for k, p in enumerate(posts):
            ev = {"t": p["t"], "shape": "x" if author.platform == "x" else "canonical",
                  "author": author, "post": p, "prev": prev, "root": root, "thread": tix}
            if ev["shape"] == "canonical":
                ev["kind"] = kind_root if k == 0 else followup_kind(kind_root)
                if kind_root == "review":
                    ev["rating"] = rating_for(p["intent"])
            if root is None:
                root = ev
                ev["root"] = ev
            events.append(ev)
            prev = ev
    return events, x_known, other_known, email_reviewers, unknown_x


def root_kind(platform):
    if platform == "facebook":
        return rng.choice(["comment", "comment", "post", KIND_DM, "mention"])
    if platform == "instagram":
        return rng.choice(["comment", "comment", KIND_DM, "mention"])
    if platform == "reddit":
        return rng.choice(["post", "comment"])
    if platform == "youtube":
        return "comment"
    if platform == "review":
        return "review"
    if platform == "forum":
        return "post"
    return "post"


def followup_kind(root):
    return KIND_DM if root == KIND_DM else "reply"


def rating_for(intent):
    if intent == "praise":
        return rng.choice([4, 5, 5])
    if intent in ("general", "sales"):
        return rng.choice([3, 3.5, 4])
    if intent == "noise":
        return 3
    return rng.choice([1, 1, 2])


# --------------------------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------------------------

def x_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % rng.randrange(1000)


def canon_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(obj, ascii_escapes=False):
    return json.dumps(obj, ensure_ascii=ascii_escapes, separators=(",", ":"))


def render_x(ev):
    a, p = ev["author"], ev["post"]
    text = decorate_x(p["text"], p["intent"], p["reply"])
    ev["final_text"] = text
    data = {"id": ev["id"], "text": x_escape(text), "author_id": a.uid,
            "created_at": x_time(ev["t"]), "conversation_id": ev["root"]["id"],
            "lang": p["lang"] if p["intent"] != "noise" or rng.random() < 0.5 else "und"}
    if ev["prev"] is not None:
        data["referenced_tweets"] = [{"type": "replied_to", "id": ev["prev"]["id"]}]
    mentions = [{"username": m} for m in re.findall(r"@(\w+)", text)]
    hashtags = [{"tag": h} for h in re.findall(r"#(\w+)", text)]
    entities = {}
    if mentions:
        entities["mentions"] = mentions
    if hashtags:
        entities["hashtags"] = hashtags
    if entities:
        data["entities"] = entities
    if ev["prev"] is not None:
        data["in_reply_to_user_id"] = a.uid  # a thread: replying to their own last post
    out = {"data": data}
    if rng.random() > 0.03:  # a few stream payloads arrive without the author expansion
        user = {"id": a.uid, "username": a.handle, "name": a.name, "verified": a.x_verified}
        if a.location:
            user["location"] = a.location
        user["public_metrics"] = {"followers_count": a.followers}
        out["includes"] = {"users": [user]}
    return dumps(out, ascii_escapes=rng.random() < 0.1)


URLS = {
    "facebook": "https://facebook.com/acmecare/posts/{n}",
    "instagram": "https://instagram.com/p/{code}/",
    "reddit": "https://reddit.com/r/acmeisp/comments/{code}/",
    "youtube": "https://youtube.com/watch?v=Ac3mE5g2xQk&lc={code}",
    "review": "https://reviews.example.com/acme/{n}",
    "forum": "https://community.acme.example.com/t/{n}",
}


def render_canonical(ev):
    a, p = ev["author"], ev["post"]
    text = p["text"]
    if a.platform in ("facebook", "instagram") and ev["kind"] == "mention" \
            and "@acmecare" not in text:
        text = "@acmecare " + text
    ev["final_text"] = text
    author = {"id": a.uid, "display_name": a.name, "handle": a.handle}
    if a.email:
        author["email"] = a.email
    code = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    out = {
        "event_id": ev["id"],
        "platform": a.platform,
        "kind": ev["kind"],
        "created_at": canon_time(ev["t"]),
    }
    if ev["prev"] is not None:
        out["conversation_id"] = ev["root"]["id"]
        out["in_reply_to"] = ev["prev"]["id"]
    out.update({
        "author": author,
        "text": text,
        "lang": p["lang"],
        "visibility": "private" if ev["kind"] == KIND_DM else "public",
    })
    if a.platform == "forum":
        out["community"] = COMMUNITY_OWNED
    out["url"] = URLS[a.platform].format(n=ev["id"].split(":")[1], code=code)
    out["mentions"] = re.findall(r"@(\w+)", text)
    out["hashtags"] = re.findall(r"#(\w+)", text)
    if "rating" in ev:
        out["rating"] = ev["rating"]
    return dumps(out)


def garbage_lines(sample_x_line, at=lambda i: FEED_START):
    """(kind, line) pairs: each a single line of valid UTF-8 that outcry must dead-letter.
    at(i) is the time of the i-th line's place in the feed, for the lines that carry one."""
    xt = lambda i: x_time(at(i))
    ct = lambda i: canon_time(at(i))
    return [
        ("not_json", "not json"),
        ("truncated_json", sample_x_line[: len(sample_x_line) * 3 // 5]),
        ("empty_object", "{}"),
        ("missing_id", '{"data":{"text":"no id"}}'),
        ("json_array", '[{"data":{"id":"1860000000000000000","text":"batch?"}}]'),
        ("rating_out_of_range", dumps({
            "event_id": "review:399001", "platform": "review", "kind": "review",
            "created_at": ct(5),
            "author": {"id": "rv-399001", "display_name": "Troll Account", "handle": None},
            "text": "best ISP ever 9/5 stars", "lang": "en", "visibility": "public",
            "url": "https://reviews.example.com/acme/399001", "mentions": [], "hashtags": [],
            "rating": 9})),
        ("unknown_kind", dumps({
            "event_id": "forum:9901", "platform": "forum", "kind": "shout",
            "created_at": ct(6),
            "author": {"id": "forum-u9901", "display_name": "LOUD USER", "handle": "loud"},
            "text": "WHY IS THE INTERNET DOWN", "lang": "en", "visibility": "public",
            "community": COMMUNITY_OWNED, "mentions": [], "hashtags": []})),
        ("invalid_escape",
         r'{"data":{"id":"1860000000000000777","text":"my path is C:\q\acme and it is down",'
         r'"author_id":"1500000001","created_at":"' + xt(7) + '"}}'),
        ("lone_surrogate",
         r'{"data":{"id":"1860000000000000778","text":"half an emoji \ud83d here",'
         r'"author_id":"1500000002","created_at":"' + xt(8) + '"}}'),
        ("json_number", "42"),
        ("json_null", "null"),
        ("unknown_shape", '{"hello":"world","source":"rss","title":"Acme outage map updated"}'),
        ("empty_author_id", dumps({"data": {
            "id": "1860000000000000779", "text": "@acmecare is the internet down?",
            "author_id": "", "created_at": xt(12)}})),
        ("missing_created_at", dumps({"data": {
            "id": "1860000000000000780", "text": "@acmecare still no signal",
            "author_id": "1500000003"}})),
        ("missing_text", dumps({
            "event_id": "facebook:19999", "platform": "facebook", "kind": "comment",
            "created_at": ct(14),
            "author": {"id": "fb-99999", "display_name": "Ghost", "handle": None}})),
        ("data_not_object", '{"data":"1860000000000000781"}'),
        ("trailing_characters", sample_x_line + " }"),
        ("blank_event_id", dumps({
            "event_id": " ", "platform": "instagram", "kind": "comment",
            "created_at": ct(17),
            "author": {"id": "ig-1", "display_name": "Blank", "handle": "blank"},
            "text": "hello?", "mentions": [], "hashtags": []})),
    ]


def main():
    customers = make_customers()
    events, x_known, other_known, email_reviewers, unknown_x = build_feed(customers)

    # Garbage lines, each at a random point in the feed.
    n_garbage = len(garbage_lines(""))
    placeholder = [{"t": random_time(FEED_START, FEED_END), "shape": "garbage", "gix": i}
                   for i in range(n_garbage)]
    timeline = events + placeholder
    order = list(range(len(timeline)))
    rng.shuffle(order)  # tie-break for equal timestamps, deterministic
    rank = {ix: r for r, ix in enumerate(order)}
    timeline = [timeline[ix] for ix in sorted(range(len(timeline)),
                                              key=lambda ix: (timeline[ix]["t"], rank[ix]))]

    # Ids in time order: tweet ids increase, canonical ids increase per platform.
    tweet_id = 1860000000000000001
    canon_seq = {"facebook": 10201, "instagram": 3300101, "reddit": 880101, "youtube": 61001,
                 "review": 400101, "forum": 5201}
    for ev in timeline:
        if ev["shape"] == "x":
            ev["id"] = str(tweet_id)
            tweet_id += rng.randrange(2_000_000, 900_000_000_000)
        elif ev["shape"] == "canonical":
            p = ev["author"].platform
            ev["id"] = "%s:%d" % (p, canon_seq[p])
            canon_seq[p] += rng.randrange(1, 60)

    lines = []
    for ev in timeline:
        if ev["shape"] == "x":
            lines.append(render_x(ev))
        elif ev["shape"] == "canonical":
            lines.append(render_canonical(ev))
        else:
            lines.append(None)
    first_x = next(l for l, ev in zip(lines, timeline) if ev["shape"] == "x")
    garbage_at = {ev["gix"]: ev["t"] for ev in timeline if ev["shape"] == "garbage"}
    garbage = garbage_lines(first_x, lambda i: garbage_at[i])
    assert len(garbage) == len(placeholder)
    for i, ev in enumerate(timeline):
        if ev["shape"] == "garbage":
            ev["kind"], lines[i] = garbage[ev["gix"]]

    for line in lines:
        assert "\n" not in line and "\r" not in line, line
        line.encode("utf-8")

    os.makedirs(os.path.dirname(FEED_PATH), exist_ok=True)
    with open(CUSTOMERS_PATH, "w", encoding="utf-8", newline="\n") as f:
        for c in customers:
            record = {k: v for k, v in c.items() if not k.startswith("_")}
            f.write(dumps(record) + "\n")
    with open(FEED_PATH, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")

    # Summary.
    valid = [ev for ev in timeline if ev["shape"] != "garbage"]
    n_x = sum(1 for ev in valid if ev["shape"] == "x")
    by_platform = {}
    for ev in valid:
        if ev["shape"] == "canonical":
            by_platform[ev["author"].platform] = by_platform.get(ev["author"].platform, 0) + 1
    known_posters = {}
    unknown_authors = {}
    for ev in valid:
        a = ev["author"]
        if a.customer is not None:
            known_posters[a.customer["id"]] = known_posters.get(a.customer["id"], 0) + 1
        else:
            key = a.platform + ":" + a.uid
            unknown_authors[key] = unknown_authors.get(key, 0) + 1
    planned = {}
    for ev in valid:
        planned[ev["post"]["intent"]] = planned.get(ev["post"]["intent"], 0) + 1
    tiers = {}
    for c in customers:
        tiers[c["tier"]] = tiers.get(c["tier"], 0) + 1
    unknown_events = sum(unknown_authors.values())

    rel = lambda p: os.path.relpath(p, ROOT)
    print("%s: %d customers (%s)" % (rel(CUSTOMERS_PATH), len(customers), ", ".join(
        "%s %d" % (t, tiers.get(t, 0)) for t in ["standard", "silver", "gold", "platinum"])))
    print("  with an X identity: %d; with a second platform identity: %d; no social identity: %d"
          % (sum(1 for c in customers if any(i["platform"] == "x" for i in c["identities"])),
             sum(1 for c in customers if any(i["platform"] != "x" for i in c["identities"])),
             sum(1 for c in customers if not c["identities"])))
    print("%s: %d lines" % (rel(FEED_PATH), len(lines)))
    print("  X API v2 tweets   %4d" % n_x)
    print("  canonical events  %4d  (%s)" % (sum(by_platform.values()), ", ".join(
        "%s %d" % (p, by_platform[p]) for p in sorted(by_platform))))
    print("  garbage           %4d  (%s)" % (len(garbage), ", ".join(k for k, _ in garbage)))
    print("  known customers posting: %d (%d events; %d of them post 3+ times)"
          % (len(known_posters), sum(known_posters.values()),
             sum(1 for n in known_posters.values() if n >= 3)))
    print("  unknown authors: %d (%d events, %.0f%% of valid events)"
          % (len(unknown_authors), unknown_events, 100.0 * unknown_events / len(valid)))
    print("  planned intents: %s" % ", ".join(
        "%s %d" % (k, planned[k]) for k in sorted(planned)))


if __name__ == "__main__":
    main()
