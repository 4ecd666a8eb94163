#!/usr/bin/env python3
"""Generate outcry's bundled sample CRM and social feed.

Writes, relative to the repository root:
  config/sample/customers.jsonl  one CRM customer record per line
  config/sample/feed.jsonl       one raw social event per line, each in its platform's own
                                 shape (X API v2 tweets and Account Activity DMs, Facebook and
                                 Instagram webhooks, LinkedIn notifications, Reddit things,
                                 YouTube comment threads, Google and Trustpilot reviews,
                                 Discourse webhooks), a few canonical events (connectors that
                                 already normalize), and some deliberately broken lines

The CRM is consistent with the adapters in src/normalize/: a customer's identity on a platform
carries the user id that platform's adapter makes the event's `author.id` (a numeric Meta id, a
`t2_` Reddit fullname, a `urn:li:person:` URN, a `UC` YouTube channel, a Trustpilot consumer
id, a Discourse `user_id`). Google reviews carry no reviewer id (the adapter derives one from
the profile photo URL), so Google reviewers are only ever matched by their display name.

Everything is fictional: names, handles, ids, e-mail addresses (@example.com / @example.org),
phone numbers (the 555-01xx and Ofcom 07700 900xxx drama ranges) and the company "Acme".
Python 3 standard library only; deterministic (fixed seed), so running it twice gives
byte-identical files. Usage: python3 scripts/gen-sample.py
"""

import calendar
import datetime as dt
import html
import json
import os
import random
import re
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CUSTOMERS_PATH = os.path.join(ROOT, "config", "sample", "customers.jsonl")
FEED_PATH = os.path.join(ROOT, "config", "sample", "feed.jsonl")

rng = random.Random(20261124)

# The feed's size. X tweets fill what the other lines leave: the garbage (len(GARBAGE) below),
# the X DMs, and the threads of the other platforms (their follow-ups make the count vary).
FEED_LINES = 300
UNKNOWN_X_EVENTS = 54  # tweets from authors not in the CRM
KNOWN_OTHER_EVENTS = 26  # events by customers with an identity on a platform other than X

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

# Acme's own accounts, as the platforms' payloads name them.
ACME_X_ID, ACME_X_HANDLE = "1400000000", "acmecare"
ACME_FB_PAGE = "100094217730512"
ACME_IG_ACCOUNT = "17841455020193847"
ACME_LI_ORG = "urn:li:organization:90412277"
ACME_LI_ADMIN = "urn:li:person:Hq4Lw8Zt2c"
ACME_YT_CHANNEL = "UCacmeCareOfficial7Tq2Xw"
ACME_GBP = ("accounts/108273645501928374655", "locations/4410928374650019283")
ACME_TP_UNIT = "4b1c7e2f0000640005aa11bb"

# Where an author writes, and so which native shape their events take. channel -> the
# `platform` the adapter gives the event (the platform of the CRM identity that matches it).
CHANNEL_PLATFORM = {
    "x": "x",                      # X API v2 tweet
    "x_dm": "x",                   # X Account Activity direct message
    "fb_comment": "facebook",      # Page webhook, feed comment
    "messenger": "facebook",       # Page webhook, Messenger message
    "ig_comment": "instagram",     # Instagram webhook, comments
    "ig_dm": "instagram",          # Instagram webhook, messaging
    "ig_mention": "instagram",     # Instagram webhook, mentions (enriched by the connector)
    "linkedin": "linkedin",        # organization social-action notification, COMMENT
    "reddit_post": "reddit",       # t3 submission (follow-ups: t1 comments in it)
    "reddit_comment": "reddit",    # t1 comment
    "youtube": "youtube",          # commentThread (follow-ups: youtube#comment replies)
    "google": "google",            # Business Profile review
    "trustpilot": "trustpilot",    # service review (API object or webhook envelope)
    "forum_topic": "forum",        # Discourse post_created, opening post of a topic
    "forum_reply": "forum",        # Discourse post_created, reply in someone's topic
    "canon_review": "review",      # canonical: a review connector that adds the e-mail
    "canon_tiktok": "tiktok",      # canonical: a platform without a native adapter
}
# Channels whose threads are a single event: a review is not followed up by another review.
SINGLE = {"google", "trustpilot", "canon_review", "ig_mention"}
# The second identities of customers, cycled over the customers that have one.
KNOWN_CHANNELS = ["fb_comment", "ig_comment", "reddit_post", "forum_topic", "messenger",
                  "linkedin", "ig_dm", "trustpilot", "reddit_comment", "fb_comment",
                  "ig_comment", "forum_reply", "youtube", "messenger", "reddit_post",
                  "fb_comment", "ig_dm", "forum_topic", "linkedin", "ig_comment",
                  "trustpilot", "reddit_comment"]
# Authors not in the CRM, one thread each: (channel, events in the thread; a noise thread
# stops after one).
UNKNOWN_OTHER = [("fb_comment", 2), ("fb_comment", 1), ("messenger", 1), ("ig_comment", 1),
                 ("ig_dm", 1), ("ig_mention", 1), ("reddit_comment", 2), ("reddit_post", 2),
                 ("youtube", 2), ("youtube", 1), ("linkedin", 1), ("google", 1), ("google", 1),
                 ("trustpilot", 1), ("forum_topic", 2), ("canon_tiktok", 2)]

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

BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
B64URL = ALNUM + "_-"


def rand_str(alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def native_user_id(channel, taken):
    """A user id as the channel's platform (and so its adapter) spells it."""
    while True:
        if channel in ("fb_comment", "ig_comment", "ig_mention"):
            uid = str(rng.randrange(5_000_000_000_000_000, 7_999_999_999_999_999))
        elif channel in ("messenger", "ig_dm"):
            # Messenger / Instagram messaging ids are page- (account-) scoped: not the id the
            # same person has on the page's feed.
            uid = str(rng.randrange(10_000_000_000_000_000, 29_999_999_999_999_999))
        elif channel in ("reddit_post", "reddit_comment"):
            uid = "t2_" + rand_str("abcdefghijkmnpqrstuvwxyz23456789", 8)
        elif channel == "linkedin":
            uid = "urn:li:person:" + rand_str(ALNUM, 10)
        elif channel == "youtube":
            uid = "UC" + rand_str(B64URL, 22)
        elif channel == "trustpilot":
            uid = rand_str("0123456789abcdef", 24)
        elif channel == "google":
            # Not an id Google gives: the adapter's author id, the photo URL without its size.
            uid = "https://lh3.googleusercontent.com/a-/ALV-Uj" + rand_str(B64URL, 40)
        elif channel in ("forum_topic", "forum_reply"):
            uid = str(rng.randrange(1100, 9800))
        elif channel == "canon_tiktok":
            uid = str(rng.randrange(6_800_000_000_000_000_000, 7_300_000_000_000_000_000))
        else:
            raise ValueError(channel)
        if uid not in taken:
            taken.add(uid)
            return uid


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




def make_customers(taken_uids):
    n = len(PEOPLE)
    # Exactly four platinum accounts (the enterprise one among them), the rest weighted.
    platinum = sorted(rng.sample(range(1, n - 1), 3)) + [n - 1]
    customers = []
    handles = []
    x_seq = 0
    # Who has which identities. Index 0 is the fixed example customer.
    no_x = set(rng.sample(range(1, n - 2), 5))  # social, but not on X
    with_second = set(rng.sample(range(1, n), 17)) | no_x
    no_social = {rng.choice([i for i in range(1, n - 2) if i not in with_second])}
    no_x -= no_social
    with_second -= no_social
    # Where each of them has their second identity: the channels cycled, shuffled; businesses
    # first get the LinkedIn ones.
    second = sorted(with_second)
    channels = [KNOWN_CHANNELS[k % len(KNOWN_CHANNELS)] for k in range(len(second))]
    rng.shuffle(channels)
    channel_of = dict(zip(second, channels))
    for i in second:
        if PEOPLE[i][3] != "consumer" and channel_of[i] != "linkedin":
            j = next((j for j in second if channel_of[j] == "linkedin"
                      and PEOPLE[j][3] == "consumer"), None)
            if j is not None:
                channel_of[i], channel_of[j] = channel_of[j], channel_of[i]
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
        channel = channel_of.get(i)
        if channel is not None:
            uid = native_user_id(channel, taken_uids)
            if channel in ("ig_comment", "ig_dm"):
                h = make_handle(name, handles)
            elif channel in ("reddit_post", "reddit_comment"):
                h = make_handle(name, handles).replace(".", "_")
            elif channel == "youtube":
                h = "@" + make_handle(name, handles).replace("_", ".")
            elif channel in ("forum_topic", "forum_reply"):
                h = make_handle(name, handles)
            else:
                # Facebook, LinkedIn and Trustpilot payloads carry no handle.
                h = None
            ident = {"platform": CHANNEL_PLATFORM[channel], "user_id": uid}
            if h is not None:
                ident["handle"] = h
            ident["verified"] = rng.random() < 0.6
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
            "_channel": channel,
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
    def __init__(self, channel, uid, handle, name, customer=None, email=None):
        self.channel = channel
        self.platform = CHANNEL_PLATFORM[channel]
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
            channel = "x" if ident["platform"] == "x" else c["_channel"]
            a = Author(channel, ident["user_id"], ident.get("handle"), c["name"], c)
            if rng.random() < 0.15 and c["segment"] == "consumer":
                a.name = c["name"].split()[0]  # display name is just the first name
            (x_authors if channel == "x" else other_authors).append(a)
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
    taken.add(uid)
    return Author("x", uid, handle, name)


def unknown_other_author(channel, i, taken):
    name = UNKNOWN_NAMES[(i * 7 + 3) % len(UNKNOWN_NAMES)]
    first, last = name_parts(name) if " " in name else (name.lower(), "")
    handle = None
    if channel in ("ig_comment", "ig_dm", "ig_mention"):
        handle = first + "." + last[:3] + rng.choice(["", "_", "88", ".atx"])
    elif channel in ("reddit_post", "reddit_comment"):
        handle = first + rng.choice(["_throwaway", "dad", "42", "_atx", "_fixes_things"])
    elif channel == "youtube":
        handle = "@" + first + last[:2] + rng.choice(["", "tv", "99"])
    elif channel in ("forum_topic", "forum_reply"):
        handle = first + last[:1]
    elif channel == "canon_tiktok":
        handle = first + "." + last + rng.choice(["", "_", "x"])
    uid = native_user_id(channel, taken)
    return Author(channel, uid, handle, name)


# --------------------------------------------------------------------------------------------
# Threads and events
# --------------------------------------------------------------------------------------------

INTENT_WEIGHTS_KNOWN = [("outage", 30), ("billing", 20), ("general", 12), ("sales", 8),
                        ("cancellation", 8), ("praise", 9), ("safety", 4), ("noise", 2)]
INTENT_WEIGHTS_UNKNOWN = [("outage", 22), ("billing", 8), ("general", 14), ("sales", 16),
                          ("cancellation", 5), ("praise", 6), ("safety", 2), ("noise", 24)]
INTENT_WEIGHTS_REVIEW = [("outage", 20), ("billing", 16), ("general", 8), ("sales", 4),
                         ("cancellation", 10), ("praise", 16), ("safety", 3)]


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


def make_thread(author, length, weights):
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


def add_threads(threads, author, n, weights, lengths=(1, 1, 2, 2, 3, 4)):
    """Threads by one author totalling n events (fewer when a noise thread stops short)."""
    while n > 0:
        length = 1 if author.channel in SINGLE else min(n, rng.choice(lengths))
        threads.append((author, make_thread(author, length, weights)))
        n -= len(threads[-1][1])


def build_feed(customers, taken_uids, n_garbage):
    x_known, other_known, email_only = known_authors(customers)
    threads = []  # (author, posts)

    # Customers with an identity on another platform, each posting there at least once
    # (a review only once).
    counts = split_counts(KNOWN_OTHER_EVENTS, len(other_known), 1, 4, [6, 4, 2, 1])
    for i, a in enumerate(other_known):
        if a.channel in SINGLE and counts[i] > 1:
            extra, counts[i] = counts[i] - 1, 1
            j = next(j for j in range(len(counts)) if other_known[j].channel not in SINGLE
                     and counts[j] < 4)
            counts[j] += extra
    for a, n in zip(other_known, counts):
        add_threads(threads, a, n, INTENT_WEIGHTS_KNOWN, lengths=(1, 2, 3))

    # Customers who review on Google: no reviewer id there, only their (unique) display name.
    x_customers = [a.customer for a in x_known[1:]]
    google_known = []
    for c in rng.sample(x_customers, 2):
        google_known.append(Author("google", native_user_id("google", taken_uids), None,
                                   c["name"], c))
        add_threads(threads, google_known[-1], 1, INTENT_WEIGHTS_KNOWN)
    # Reviews matched by e-mail only: a review connector that normalizes itself and adds the
    # reviewer's e-mail from the order (canonical shape, platform "review").
    email_reviewers = [Author("canon_review", "rv-%d" % (200100 + i * 37), None, c["name"], c,
                              email=c["emails"][0])
                       for i, c in enumerate(email_only)]
    for c in rng.sample([c for c in x_customers if c not in [g.customer for g in google_known]],
                        2):
        email_reviewers.append(Author("canon_review",
                                      "rv-%d" % (200500 + len(email_reviewers) * 41),
                                      None, c["name"], c, email=c["emails"][0]))
    for a in email_reviewers:
        add_threads(threads, a, 1, INTENT_WEIGHTS_KNOWN)

    # Authors not in the CRM on the other platforms.
    unknown_other = []
    for i, (channel, length) in enumerate(UNKNOWN_OTHER):
        a = unknown_other_author(channel, i, taken_uids)
        if channel == "google" and not any(getattr(u, "anonymous", False)
                                           for u in unknown_other):
            a.anonymous = True  # "A Google user": the review's own name is the author id
        unknown_other.append(a)
        # Review sites filter most spam: their reviews are not noise.
        weights = INTENT_WEIGHTS_REVIEW if channel in SINGLE else INTENT_WEIGHTS_UNKNOWN
        threads.append((a, make_thread(a, length, weights)))

    # X direct messages (Account Activity): a customer's conversation, and a prospect's.
    dm_customer = rng.choice([a for a in x_known[1:]])
    dm_known = Author("x_dm", dm_customer.uid, dm_customer.handle, dm_customer.name,
                      dm_customer.customer)
    threads.append((dm_known, make_thread(dm_known, 2, INTENT_WEIGHTS_KNOWN)))
    while len(threads[-1][1]) < 2:  # a noise thread stops short: the DM count is fixed
        threads[-1] = (dm_known, make_thread(dm_known, 2, INTENT_WEIGHTS_KNOWN))
    dm_unknown = unknown_x_author(len(UNKNOWN_NAMES) - 1, taken_uids)
    dm_unknown.channel = "x_dm"
    threads.append((dm_unknown, make_thread(dm_unknown, 1, INTENT_WEIGHTS_UNKNOWN)))

    # X tweets fill the feed up to FEED_LINES.
    n_other = sum(len(p) for _, p in threads)
    x_tweets = FEED_LINES - n_garbage - n_other

    # Known X authors: most post, several post many times (ownership "attach").
    posting_x = [a for a in x_known if a.uid == "1500000001" or rng.random() < 0.88]
    known_x_total = x_tweets - UNKNOWN_X_EVENTS
    x_counts = split_counts(known_x_total, len(posting_x), 1, 9,
                            [10, 9, 9, 8, 7, 6, 4, 3, 2])
    for a, n in zip(posting_x, x_counts):
        add_threads(threads, a, n, INTENT_WEIGHTS_KNOWN)

    # Unknown X authors: mostly one-off, a few repeat.
    n_unknown_x = 40
    unknown_x = [unknown_x_author(i, taken_uids) for i in range(n_unknown_x)]
    ux_counts = split_counts(UNKNOWN_X_EVENTS, n_unknown_x, 1, 4, [12, 3, 2, 1])
    for a, n in zip(unknown_x, ux_counts):
        add_threads(threads, a, n, INTENT_WEIGHTS_UNKNOWN, lengths=(1, 2, 3))
    # Flatten to events with thread links; ids are assigned when rendered, in time order.
    events = []
    for tix, (author, posts) in enumerate(threads):
        prev = None
        root = None
        for k, p in enumerate(posts):
            ev = {"t": p["t"], "shape": shape_of(author.channel), "author": author, "post": p,
                  "prev": prev, "root": root, "thread": tix, "k": k}
            if ev["shape"] == "canonical":
                ev["kind"] = "review" if author.channel == "canon_review" else (
                    "comment" if k == 0 else "reply")
            if author.channel in ("google", "trustpilot", "canon_review"):
                ev["rating"] = rating_for(p["intent"])
            if root is None:
                root = ev
                ev["root"] = ev
            events.append(ev)
            prev = ev
    return events


def shape_of(channel):
    if channel == "x":
        return "x"
    if channel.startswith("canon_"):
        return "canonical"
    return "native"


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

def epoch(t):
    """Unix seconds of a (naive, UTC) feed time."""
    return calendar.timegm(t.timetuple())


def epoch_ms(t, jitter=True):
    return epoch(t) * 1000 + (rng.randrange(1000) if jitter else 0)


def x_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % rng.randrange(1000)


def canon_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(obj, ascii_escapes=False):
    return json.dumps(obj, ensure_ascii=ascii_escapes, separators=(",", ":"))


def html_text(text):
    """Text as platforms render it in HTML: escaped, line breaks as <br>."""
    return html.escape(text, quote=True).replace("&#x27;", "&#39;").replace("\n", "<br>")


def slug(text, n=6):
    words = re.sub(r"[^a-z0-9 ]", "", ascii_fold(text).lower()).split()
    return "_".join(words[:n]) or "post"


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


def render_x_dm(ev):
    """An Account Activity API webhook delivery with one message_create event."""
    a, p = ev["author"], ev["post"]
    ev["final_text"] = p["text"]
    sender = {"id": a.uid, "created_timestamp": str(1420000000000 + rng.randrange(10 ** 11)),
              "name": a.name, "screen_name": a.handle, "protected": False,
              "verified": a.x_verified, "followers_count": a.followers,
              "friends_count": rng.randrange(20, 900),
              "profile_image_url_https": "https://pbs.twimg.com/profile_images/%d/%s_normal.jpg"
              % (rng.randrange(10 ** 18, 10 ** 19), rand_str(ALNUM, 8))}
    if a.location:
        sender["location"] = a.location
    out = {
        "for_user_id": ACME_X_ID,
        "direct_message_events": [{
            "type": "message_create",
            "id": ev["id"],
            "created_timestamp": str(epoch_ms(ev["t"])),
            "message_create": {
                "target": {"recipient_id": ACME_X_ID},
                "sender_id": a.uid,
                "message_data": {"text": x_escape(p["text"]),
                                 "entities": {"hashtags": [], "symbols": [],
                                              "user_mentions": [], "urls": []}},
            },
        }],
        "users": {
            a.uid: sender,
            ACME_X_ID: {"id": ACME_X_ID, "created_timestamp": "1262304000000",
                        "name": "Acme Care", "screen_name": ACME_X_HANDLE, "protected": False,
                        "verified": True, "followers_count": 48210, "friends_count": 312},
        },
    }
    return dumps(out)


def meta_delivery(obj, entry_id, entry_time, key, item):
    return dumps({"object": obj, "entry": [{"id": entry_id, "time": entry_time, key: [item]}]})


def render_fb_comment(ev):
    """A Page `feed` webhook: a comment on one of the page's posts (a follow-up replies to the
    author's first comment, as Facebook threads replies under the top-level comment)."""
    a, p, root = ev["author"], ev["post"], ev["root"]
    text = p["text"]
    ev["final_text"] = text
    ctx = root.setdefault("ctx", {})
    if not ctx:
        ctx["post_num"] = str(rng.randrange(122118000000000000, 122119999999999999))
        ctx["post_id"] = "%s_%s" % (ACME_FB_PAGE, ctx["post_num"])
        ctx["post_time"] = ev["t"] - dt.timedelta(minutes=rng.randrange(20, 600))
    comment_id = "%s_%d" % (ctx["post_num"], rng.randrange(10 ** 15, 10 ** 16))
    ev["nid"] = comment_id
    parent = ctx["post_id"] if ev is root else root["nid"]
    ts = epoch(ev["t"])
    value = {
        "from": {"id": a.uid, "name": a.name},
        "post": {"status_type": rng.choice(["mobile_status_update", "added_photos"]),
                 "is_published": True,
                 "updated_time": ev["t"].strftime("%Y-%m-%dT%H:%M:%S+0000"),
                 "permalink_url": "https://www.facebook.com/%s/posts/%s"
                 % (ACME_FB_PAGE, ctx["post_num"]),
                 "promotion_status": "inactive", "id": ctx["post_id"]},
        "message": text,
        "post_id": ctx["post_id"],
        "comment_id": comment_id,
        "parent_id": parent,
        "created_time": ts,
        "item": "comment",
        "verb": "add",
    }
    return meta_delivery("page", ACME_FB_PAGE, ts + rng.randrange(0, 3), "changes",
                         {"field": "feed", "value": value})


def render_messaging(ev, obj, account, mid):
    a, p = ev["author"], ev["post"]
    ev["final_text"] = p["text"]
    ms = epoch_ms(ev["t"])
    item = {"sender": {"id": a.uid}, "recipient": {"id": account}, "timestamp": ms,
            "message": {"mid": mid, "text": p["text"]}}
    ev["nid"] = mid
    return meta_delivery(obj, account, ms + rng.randrange(20, 900), "messaging", item)


def render_messenger(ev):
    return render_messaging(ev, "page", ACME_FB_PAGE, "m_" + rand_str(B64URL, 62))


def render_ig_dm(ev):
    return render_messaging(ev, "instagram", ACME_IG_ACCOUNT,
                            "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDU1MDIwMTkzODQ3Oj"
                            + rand_str(ALNUM, 64) + "ZDZD")


def render_ig_comment(ev):
    """An Instagram `comments` webhook: no creation time in it, so `entry.time` is the time."""
    a, p, root = ev["author"], ev["post"], ev["root"]
    ev["final_text"] = p["text"]
    ctx = root.setdefault("ctx", {})
    if not ctx:
        ctx["media"] = str(rng.randrange(18030000000000000, 18099999999999999))
        ctx["product"] = rng.choice(["FEED", "FEED", "REELS"])
    ev["nid"] = str(rng.randrange(17900000000000000, 18199999999999999))
    value = {"from": {"id": a.uid, "username": a.handle},
             "media": {"id": ctx["media"], "media_product_type": ctx["product"]},
             "id": ev["nid"], "text": p["text"]}
    if ev is not root:
        value["parent_id"] = root["nid"]
    return meta_delivery("instagram", ACME_IG_ACCOUNT, epoch(ev["t"]), "changes",
                         {"field": "comments", "value": value})


def render_ig_mention(ev):
    """An Instagram `mentions` webhook, with what the connector merged in from the
    `mentioned_comment` lookup (text, from, timestamp)."""
    a, p = ev["author"], ev["post"]
    text = p["text"] if "@acmecare" in p["text"] else "@acmecare " + p["text"]
    ev["final_text"] = text
    ev["nid"] = str(rng.randrange(17900000000000000, 18199999999999999))
    value = {"media_id": str(rng.randrange(18030000000000000, 18099999999999999)),
             "comment_id": ev["nid"], "text": text,
             "timestamp": ev["t"].strftime("%Y-%m-%dT%H:%M:%S+0000"),
             "from": {"id": a.uid, "username": a.handle}}
    return meta_delivery("instagram", ACME_IG_ACCOUNT, epoch(ev["t"]) + rng.randrange(1, 30),
                         "changes", {"field": "mentions", "value": value})


LI_POSTS = [
    "Fiber is now live in 12 more Texas cities. Tell us how your install went!",
    "Small business owners: our new plans come with a static IP and a named account manager.",
    "We're hiring field technicians in Austin, Denver and Columbus. Join the crew!",
    "Our network report for Q3 is out: 99.95% availability and what we're doing about the rest.",
]


def render_linkedin(ev):
    """An ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS push with one COMMENT notification."""
    a, p, root = ev["author"], ev["post"], ev["root"]
    ev["final_text"] = p["text"]
    ctx = root.setdefault("ctx", {})
    if not ctx:
        ctx["activity"] = "urn:li:activity:%d" % rng.randrange(7396000000000000000,
                                                                7399000000000000000)
        ctx["share"] = "urn:li:share:%d" % rng.randrange(7396000000000000000,
                                                          7399000000000000000)
        ctx["text"] = rng.choice(LI_POSTS)
    urn = "urn:li:comment:(%s,%d)" % (ctx["activity"],
                                      rng.randrange(7397000000000000000, 7399900000000000000))
    ev["nid"] = urn
    out = {
        "type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
        "notifications": [{
            "notificationId": rng.randrange(8800000000, 8899999999),
            "organizationalEntity": ACME_LI_ORG,
            "action": "COMMENT",
            "sourcePost": ctx["activity"],
            "decoratedSourcePost": {"entity": ctx["share"], "owner": ACME_LI_ORG,
                                    "mediaCategory": "NONE", "text": ctx["text"]},
            "generatedActivity": urn,
            "decoratedGeneratedActivity": {"comment": {
                "entity": urn, "owner": a.uid, "object": ctx["activity"], "text": p["text"]}},
            "lastModifiedAt": epoch_ms(ev["t"], jitter=False),
            "subscriber": ACME_LI_ADMIN,
        }],
    }
    return dumps(out)


REDDIT_TITLES = ["Anyone else in {city}?", "Question for Acme", "PSA for Acme customers",
                 "Acme this week", "Help please", "Is it just me?"]
REDDIT_THREADS = ["Megathread: Acme service status, week of Nov 17",
                  "Acme fiber in {city} - worth it?", "Weekly help and questions thread",
                  "What router are you all using with Acme?"]


def reddit_thing(kind, data):
    base = {"subreddit_id": "t5_3k9vz", "subreddit": "acmeisp",
            "subreddit_name_prefixed": "r/acmeisp", "subreddit_type": "public",
            "approved_at_utc": None, "author_flair_text": None, "gilded": 0,
            "archived": False, "locked": False, "stickied": False, "edited": False}
    base.update(data)
    return dumps({"kind": kind, "data": base})


def reddit_comment_data(ev, link_id, link_slug, parent, own_submission=False):
    a, p = ev["author"], ev["post"]
    cid = rand_str(BASE36, 7)
    ev["nid"] = "t1_" + cid
    score = rng.randrange(1, 60)
    return {"id": cid, "name": "t1_" + cid, "author": a.handle, "author_fullname": a.uid,
            "body": x_escape(p["text"]), "link_id": link_id, "parent_id": parent,
            "permalink": "/r/acmeisp/comments/%s/%s/%s/" % (link_id[3:], link_slug, cid),
            "created_utc": float(epoch(ev["t"])), "created": float(epoch(ev["t"])),
            "score": score, "ups": score, "downs": 0, "depth": 0 if parent == link_id else 1,
            "is_submitter": own_submission, "controversiality": 0, "replies": ""}


def render_reddit_post(ev):
    """A submission (t3) opens the thread; the author's follow-ups are comments (t1) in it."""
    a, p, root = ev["author"], ev["post"], ev["root"]
    ev["final_text"] = p["text"]
    ctx = root.setdefault("ctx", {})
    if ev is root:
        sid = "1h" + rand_str(BASE36, 5)
        title = rng.choice(REDDIT_TITLES).format(city=rng.choice(CITIES))
        ctx.update({"link": "t3_" + sid, "slug": slug(title)})
        ev["nid"] = "t3_" + sid
        score = rng.randrange(1, 200)
        permalink = "/r/acmeisp/comments/%s/%s/" % (sid, ctx["slug"])
        ev["final_text"] = title + "\n\n" + p["text"]
        return reddit_thing("t3", {
            "id": sid, "name": "t3_" + sid, "author": a.handle, "author_fullname": a.uid,
            "title": x_escape(title), "selftext": x_escape(p["text"]), "is_self": True,
            "url": "https://www.reddit.com" + permalink, "permalink": permalink,
            "created_utc": float(epoch(ev["t"])), "created": float(epoch(ev["t"])),
            "num_comments": rng.randrange(0, 40), "score": score, "ups": score, "downs": 0,
            "upvote_ratio": rng.choice([0.83, 0.9, 0.95, 1.0]), "over_18": False,
            "link_flair_text": rng.choice(["Outage", "Billing", "Help", None])})
    parent = ev["prev"]["nid"]
    return reddit_thing("t1", reddit_comment_data(ev, ctx["link"], ctx["slug"], parent,
                                                  own_submission=True))


def render_reddit_comment(ev):
    """A comment (t1) in someone else's submission; follow-ups answer the author's last one."""
    root = ev["root"]
    ctx = root.setdefault("ctx", {})
    if not ctx:
        title = rng.choice(REDDIT_THREADS).format(city=rng.choice(CITIES))
        ctx.update({"link": "t3_1g" + rand_str(BASE36, 5), "slug": slug(title)})
    parent = ctx["link"] if ev is root else ev["prev"]["nid"]
    ev["final_text"] = ev["post"]["text"]
    return reddit_thing("t1", reddit_comment_data(ev, ctx["link"], ctx["slug"], parent))


YT_VIDEOS = ["Ac3mE5g2xQk", "Qm3xT8aLw2E", "fB9pLr2KtYw", "Zk7Hq1NvC0s"]


def yt_comment(ev, cid, video, parent=None):
    a, p = ev["author"], ev["post"]
    published = ev["t"].strftime("%Y-%m-%dT%H:%M:%SZ")
    snippet = {"channelId": ACME_YT_CHANNEL, "videoId": video,
               "textDisplay": html_text(p["text"]), "textOriginal": p["text"]}
    if parent is not None:
        snippet["parentId"] = parent
    snippet.update({
        "authorDisplayName": a.handle,
        "authorProfileImageUrl": "https://yt3.ggpht.com/ytc/AIdro_%s=s48-c-k-c0x00ffffff-no-rj"
        % rand_str(B64URL, 34),
        "authorChannelUrl": "http://www.youtube.com/%s" % a.handle,
        "authorChannelId": {"value": a.uid},
        "canRate": True, "viewerRating": "none", "likeCount": rng.randrange(0, 40),
        "publishedAt": published, "updatedAt": published})
    return {"kind": "youtube#comment", "etag": rand_str(B64URL, 27), "id": cid,
            "snippet": snippet}


def render_youtube(ev):
    """A commentThread (its top-level comment) opens the thread; the author's follow-ups are
    replies, single youtube#comment resources."""
    root = ev["root"]
    ev["final_text"] = ev["post"]["text"]
    ctx = root.setdefault("ctx", {})
    if ev is root:
        ctx["video"] = rng.choice(YT_VIDEOS)
        cid = "Ugx" + rand_str(ALNUM, 16) + "4AaABAg"
        ev["nid"] = cid
        top = yt_comment(ev, cid, ctx["video"])
        return dumps({"kind": "youtube#commentThread", "etag": rand_str(B64URL, 27), "id": cid,
                      "snippet": {"channelId": ACME_YT_CHANNEL, "videoId": ctx["video"],
                                  "topLevelComment": top, "canReply": True,
                                  "totalReplyCount": 0, "isPublic": True}})
    cid = root["nid"] + "." + rand_str(ALNUM, 22)
    ev["nid"] = cid
    return dumps(yt_comment(ev, cid, ctx["video"], parent=root["nid"]))


STARS = {1: "ONE", 2: "TWO", 3: "THREE", 4: "FOUR", 5: "FIVE"}


def render_google(ev):
    a, p = ev["author"], ev["post"]
    ev["final_text"] = p["text"]
    review_id = rand_str(ALNUM, 32)
    name = "%s/%s/reviews/%s" % (ACME_GBP[0], ACME_GBP[1], review_id)
    stars = int(round(ev["rating"]))
    created = ev["t"].strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % rng.randrange(10 ** 6)
    if getattr(a, "anonymous", False):
        reviewer = {"displayName": "A Google user", "isAnonymous": True}
        a.uid = name  # the adapter's author id for an anonymous reviewer
    else:
        reviewer = {"profilePhotoUrl": a.uid + "=s120-c-rp-mo-br100", "displayName": a.name,
                    "isAnonymous": False}
    out = {"name": name, "reviewId": review_id, "reviewer": reviewer,
           "starRating": STARS[stars], "comment": p["text"], "createTime": created,
           "updateTime": created}
    return dumps(out)


def tp_title(stars):
    return rng.choice({1: ["Very disappointed", "Never again"], 2: ["Not impressed",
                                                                    "Could be better"],
                       3: ["Mixed experience", "It's ok"],
                       4: ["Mostly good", "Solid provider"],
                       5: ["Five stars", "Really happy"]}[stars])


_trustpilot_seen = [0]


def render_trustpilot(ev):
    """A Trustpilot review: the API's review object, or (every other one) the webhook
    envelope of a service-review-created event."""
    a, p = ev["author"], ev["post"]
    stars = min(5, max(1, int(round(ev["rating"]))))
    title = tp_title(stars)
    ev["final_text"] = title + "\n\n" + p["text"]
    rid = rand_str("0123456789abcdef", 24)
    _trustpilot_seen[0] += 1
    if _trustpilot_seen[0] % 2 == 1:
        created = ev["t"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return dumps({"events": [{"eventName": "service-review-created", "version": "1",
                                  "eventData": {
                                      "id": rid, "language": p["lang"], "title": title,
                                      "text": p["text"],
                                      "referenceId": "ORD-202611%02d-%04d"
                                      % (rng.randrange(1, 20), rng.randrange(10 ** 4)),
                                      "stars": stars, "createdAt": created,
                                      "isVerified": True, "locationId": None,
                                      "link": "https://api.trustpilot.com/v1/reviews/" + rid,
                                      "consumer": {
                                          "id": a.uid, "name": a.name,
                                          "link": "https://api.trustpilot.com/v1/consumers/"
                                          + a.uid},
                                      "tags": []}}]})
    link = lambda rel, href: {"href": href, "method": "GET", "rel": rel}
    return dumps({
        "links": [link("reviews", "https://api.trustpilot.com/v1/reviews/" + rid)],
        "id": rid,
        "consumer": {"links": [link("consumers",
                                    "https://api.trustpilot.com/v1/consumers/" + a.uid)],
                     "id": a.uid, "displayName": a.name,
                     "displayLocation": a.location or None, "countryCode": "US",
                     "numberOfReviews": rng.randrange(1, 12)},
        "businessUnit": {"id": ACME_TP_UNIT, "identifyingName": "acme.example.com",
                         "displayName": "Acme"},
        "stars": stars, "title": title, "text": p["text"], "language": p["lang"],
        "createdAt": ev["t"].strftime("%Y-%m-%dT%H:%M:%SZ"), "updatedAt": None,
        "companyReply": None, "isVerified": rng.random() < 0.7, "source": "Organic",
        "numberOfLikes": 0, "status": "active"})


FORUM_TITLES = ["Anyone else seeing this?", "Need some help here", "Question for the Acme team",
                "My experience this week", "Help needed in {city}"]
FORUM_TOPICS = ["XR-200 gateway keeps rebooting at night", "Fiber outage megathread - Nov 21",
                "Tips for better wifi in a two-storey house", "New billing layout from December",
                "Moving house: how did the transfer go for you?"]
FORUM_CATEGORIES = [(7, "internet-and-wifi"), (9, "billing-and-account"), (4, "general")]
_forum_post_id = [48301]
_forum_seen = [0]
_forum_topics_opened = []


def render_forum(ev):
    """A Discourse post_created webhook. A forum_topic thread opens a topic (post 1, with the
    topic's title); a forum_reply thread answers in someone else's topic; follow-ups reply to
    the author's previous post."""
    a, p, root = ev["author"], ev["post"], ev["root"]
    text = p["text"]
    ctx = root.setdefault("ctx", {})
    if not ctx:
        cat = rng.choice(FORUM_CATEGORIES)
        if a.channel == "forum_topic":
            title = FORUM_TITLES[ctx.setdefault("n", len(_forum_topics_opened))
                                 % len(FORUM_TITLES)].format(city=rng.choice(CITIES))
            _forum_topics_opened.append(title)
            ctx.update({"topic": rng.randrange(9130, 9400), "title": title, "number": 0})
        else:
            title = rng.choice(FORUM_TOPICS)
            ctx.update({"topic": rng.randrange(8800, 9120), "title": title,
                        "number": rng.randrange(2, 40)})
        ctx.update({"category": cat, "slug": slug(ctx["title"], 10).replace("_", "-")})
    previous = ctx["number"]
    number = previous + (1 if previous == 0 else rng.randrange(1, 4))
    ctx["number"] = number
    reply_to = None
    if number > 1:
        reply_to = previous if ev is not root else rng.choice([None, rng.randrange(1, number)])
    _forum_post_id[0] += rng.randrange(1, 40)
    post_id = _forum_post_id[0]
    ev["nid"] = post_id
    ev["final_text"] = (ctx["title"] + "\n\n" + text) if number == 1 else text
    created = ev["t"].strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % rng.randrange(1000)
    cooked = "<p>" + "</p>\n<p>".join(html.escape(par, quote=False)
                                      for par in text.split("\n\n")) + "</p>"
    post = {
        "id": post_id, "name": a.name, "username": a.handle,
        "avatar_template": "/user_avatar/community.acme.example.com/%s/{size}/%d_2.png"
        % (a.handle.lower(), rng.randrange(100, 9999)),
        "created_at": created, "cooked": cooked, "post_number": number, "post_type": 1,
        "updated_at": created, "reply_count": 0, "reply_to_post_number": reply_to,
        "quote_count": 0, "incoming_link_count": 0, "reads": 1, "score": 0,
        "topic_id": ctx["topic"], "topic_slug": ctx["slug"], "topic_title": ctx["title"],
        "category_id": ctx["category"][0], "display_username": a.name,
        "primary_group_name": None, "version": 1, "user_title": None, "moderator": False,
        "admin": False, "staff": False, "user_id": int(a.uid), "hidden": False,
        "trust_level": rng.choice([0, 1, 1, 2, 2, 3]), "deleted_at": None,
        "user_deleted": False, "wiki": False,
        "topic_posts_count": number, "topic_archetype": "regular",
        "category_slug": ctx["category"][1],
    }
    _forum_seen[0] += 1
    if _forum_seen[0] != 2:  # Discourse sends `raw`; an instance that strips it sends `cooked`
        post["raw"] = text
    return dumps({"post": post})


NATIVE = {
    "x_dm": render_x_dm,
    "fb_comment": render_fb_comment,
    "messenger": render_messenger,
    "ig_comment": render_ig_comment,
    "ig_dm": render_ig_dm,
    "ig_mention": render_ig_mention,
    "linkedin": render_linkedin,
    "reddit_post": render_reddit_post,
    "reddit_comment": render_reddit_comment,
    "youtube": render_youtube,
    "google": render_google,
    "trustpilot": render_trustpilot,
    "forum_topic": render_forum,
    "forum_reply": render_forum,
}

URLS = {
    "review": "https://reviews.example.com/acme/{n}",
    "tiktok": "https://www.tiktok.com/@acmecare/video/{code}",
}


def render_canonical(ev):
    a, p = ev["author"], ev["post"]
    text = p["text"]
    ev["final_text"] = text
    author = {"id": a.uid, "display_name": a.name, "handle": a.handle}
    if a.email:
        author["email"] = a.email
    code = str(rng.randrange(7_300_000_000_000_000_000, 7_399_999_999_999_999_999))
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
        # Native shapes that are not one customer message each.
        ("facebook_batched_delivery", dumps({"object": "page", "entry": [
            {"id": ACME_FB_PAGE, "time": epoch(at(18)) + k, "changes": [{"field": "feed", "value": {
                "from": {"id": uid, "name": name}, "post_id": ACME_FB_PAGE + "_122118771520930452",
                "comment_id": "122118771520930452_%d" % cid,
                "parent_id": ACME_FB_PAGE + "_122118771520930452",
                "message": text, "created_time": epoch(at(18)) + k, "item": "comment",
                "verb": "add"}}]}
            for k, (uid, name, cid, text) in enumerate([
                ("6102938475610293", "Pat Murphy", 1029384756102938,
                 "Same here, no internet since 7am"),
                ("6574839201928374", "Robin Hale", 1092837465019283,
                 "Down in Round Rock too")])]})),
        ("facebook_reaction", dumps({"object": "page", "entry": [{
            "id": ACME_FB_PAGE, "time": epoch(at(19)), "changes": [{"field": "feed", "value": {
                "from": {"id": "6610293847561029", "name": "Sage Romero"},
                "post_id": ACME_FB_PAGE + "_122118771520930452",
                "created_time": epoch(at(19)), "item": "reaction", "parent_id":
                ACME_FB_PAGE + "_122118771520930452", "reaction_type": "angry",
                "verb": "add"}}]}]})),
        ("reddit_deleted_comment", dumps({"kind": "t1", "data": {
            "id": "m9z0q1r", "name": "t1_m9z0q1r", "author": "[deleted]", "body": "[deleted]",
            "link_id": "t3_1h4zq8c", "parent_id": "t3_1h4zq8c", "subreddit": "acmeisp",
            "permalink": "/r/acmeisp/comments/1h4zq8c/comment/m9z0q1r/",
            "created_utc": float(epoch(at(20))), "score": 1}})),
        ("instagram_mention_not_enriched", dumps({"object": "instagram", "entry": [{
            "id": ACME_IG_ACCOUNT, "time": epoch(at(21)), "changes": [{"field": "mentions",
            "value": {"media_id": "18041298374650192", "comment_id": "17958374619283746"}}]}]})),
        ("google_unspecified_rating", dumps({
            "name": "%s/%s/reviews/AbFvOqnT0unspecifiedRating0000000" % ACME_GBP,
            "reviewId": "AbFvOqnT0unspecifiedRating0000000",
            "reviewer": {"displayName": "A Google user", "isAnonymous": True},
            "starRating": "STAR_RATING_UNSPECIFIED", "comment": "",
            "createTime": at(22).strftime("%Y-%m-%dT%H:%M:%S.000000Z")})),
    ]


def main():
    taken_uids = set()
    customers = make_customers(taken_uids)
    n_garbage = len(garbage_lines(""))
    events = build_feed(customers, taken_uids, n_garbage)

    # Garbage lines, each at a random point in the feed.
    placeholder = [{"t": random_time(FEED_START, FEED_END), "shape": "garbage", "gix": i}
                   for i in range(n_garbage)]
    timeline = events + placeholder
    order = list(range(len(timeline)))
    rng.shuffle(order)  # tie-break for equal timestamps, deterministic
    rank = {ix: r for r, ix in enumerate(order)}
    timeline = [timeline[ix] for ix in sorted(range(len(timeline)),
                                              key=lambda ix: (timeline[ix]["t"], rank[ix]))]

    # Ids in time order: tweet (and DM event) ids increase, canonical ids increase per
    # platform; the native shapes make their own ids as they are rendered, in this order.
    tweet_id = 1860000000000000001
    canon_seq = {"review": 400101, "tiktok": 7101}
    for ev in timeline:
        if ev["shape"] == "x" or (ev["shape"] == "native" and ev["author"].channel == "x_dm"):
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
        elif ev["shape"] == "native":
            lines.append(NATIVE[ev["author"].channel](ev))
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
    assert len(lines) == FEED_LINES, len(lines)

    os.makedirs(os.path.dirname(FEED_PATH), exist_ok=True)
    with open(CUSTOMERS_PATH, "w", encoding="utf-8", newline="\n") as f:
        for c in customers:
            record = {k: v for k, v in c.items() if not k.startswith("_")}
            f.write(dumps(record) + "\n")
    with open(FEED_PATH, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    summary(customers, timeline, garbage, lines)


# What each channel's events are called in the summary (and the README).
CHANNEL_LABEL = {
    "x": "X API v2 tweet", "x_dm": "X Account Activity DM",
    "fb_comment": "Facebook feed comment", "messenger": "Facebook Messenger message",
    "ig_comment": "Instagram comment", "ig_dm": "Instagram DM",
    "ig_mention": "Instagram mention", "linkedin": "LinkedIn comment",
    "reddit_post": "Reddit submission (t3) + its author's comments",
    "reddit_comment": "Reddit comment (t1)",
    "youtube": "YouTube commentThread + its author's replies",
    "google": "Google Business Profile review", "trustpilot": "Trustpilot review",
    "forum_topic": "Discourse post_created, new topic + replies",
    "forum_reply": "Discourse post_created, reply",
    "canon_review": "canonical review (with author.email)",
    "canon_tiktok": "canonical tiktok comment",
}


def native_kind(ev):
    """What the line is, finer than its channel (a thread's follow-ups may differ)."""
    ch = ev["author"].channel
    first = ev is ev["root"]
    if ch == "reddit_post":
        return "Reddit submission (t3)" if first else "Reddit comment (t1)"
    if ch == "reddit_comment":
        return "Reddit comment (t1)"
    if ch == "youtube":
        return "YouTube commentThread" if first else "YouTube comment (reply)"
    if ch in ("forum_topic", "forum_reply"):
        return "Discourse post_created"
    return CHANNEL_LABEL[ch]


def summary(customers, timeline, garbage, lines):
    valid = [ev for ev in timeline if ev["shape"] != "garbage"]
    by_kind = {}
    for ev in valid:
        k = native_kind(ev)
        by_kind[k] = by_kind.get(k, 0) + 1
    known_posters = {}
    unknown_authors = {}
    known_other = {}
    for ev in valid:
        a = ev["author"]
        if a.customer is not None:
            known_posters[a.customer["id"]] = known_posters.get(a.customer["id"], 0) + 1
            if a.platform != "x":
                known_other[a.platform] = known_other.get(a.platform, 0) + 1
        else:
            key = a.platform + ":" + a.uid
            unknown_authors[key] = unknown_authors.get(key, 0) + 1
    planned = {}
    for ev in valid:
        planned[ev["post"]["intent"]] = planned.get(ev["post"]["intent"], 0) + 1
    tiers = {}
    for c in customers:
        tiers[c["tier"]] = tiers.get(c["tier"], 0) + 1
    seconds = {}
    for c in customers:
        for ident in c["identities"]:
            if ident["platform"] != "x":
                p = ident["platform"]
                seconds[p] = seconds.get(p, 0) + 1
    unknown_events = sum(unknown_authors.values())

    rel = lambda p: os.path.relpath(p, ROOT)
    print("%s: %d customers (%s)" % (rel(CUSTOMERS_PATH), len(customers), ", ".join(
        "%s %d" % (t, tiers.get(t, 0)) for t in ["standard", "silver", "gold", "platinum"])))
    print("  with an X identity: %d; with a second platform identity: %d (%s); "
          "no social identity: %d"
          % (sum(1 for c in customers if any(i["platform"] == "x" for i in c["identities"])),
             sum(seconds.values()), ", ".join("%s %d" % (p, seconds[p]) for p in sorted(seconds)),
             sum(1 for c in customers if not c["identities"])))
    print("%s: %d lines" % (rel(FEED_PATH), len(lines)))
    for shape, title in (("x", "X"), ("native", "other platforms, native shape"),
                         ("canonical", "canonical shape")):
        evs = [ev for ev in valid if ev["shape"] == shape
               or (shape == "x" and ev["author"].channel == "x_dm")]
        if shape == "native":
            evs = [ev for ev in evs if ev["author"].channel != "x_dm"]
        print("  %-32s %4d" % (title, len(evs)))
        kinds = {}
        for ev in evs:
            kinds[native_kind(ev)] = kinds.get(native_kind(ev), 0) + 1
        for k in sorted(kinds):
            print("      %-42s %3d" % (k, kinds[k]))
    print("  %-32s %4d  (%s)" % ("garbage", len(garbage), ", ".join(k for k, _ in garbage)))
    print("  known customers posting: %d (%d events; %d of them post 3+ times); "
          "on other platforms than X: %s"
          % (len(known_posters), sum(known_posters.values()),
             sum(1 for n in known_posters.values() if n >= 3),
             ", ".join("%s %d" % (p, known_other[p]) for p in sorted(known_other))))
    print("  unknown authors: %d (%d events, %.0f%% of valid events)"
          % (len(unknown_authors), unknown_events, 100.0 * unknown_events / len(valid)))
    print("  planned intents: %s" % ", ".join(
        "%s %d" % (k, planned[k]) for k in sorted(planned)))


if __name__ == "__main__":
    main()
