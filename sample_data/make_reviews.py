"""Generate the sample data: ``reviews.csv`` (short product reviews) and ``long_docs.csv``.

Everything here was written for embedframe; nothing is downloaded. The generator is
deterministic (one ``random.Random`` with a fixed seed, no dependence on hash order),
so running it again writes byte-identical files:

    python sample_data/make_reviews.py            # writes next to this script
    python sample_data/make_reviews.py OUT_DIR    # writes somewhere else

Reviews are composed from hand-written phrase banks: per-category sentences about the
things people actually comment on (fit, battery, plot, rust, ...) and generic openers,
remarks and closers, chosen to match the star rating (5-4 positive, 3 mixed, 2-1
negative). A few reviews get typos, emoji or ALL-CAPS emphasis; a few are in Spanish,
French or German; a handful are exact duplicates; some are blank (whitespace only)
or missing. The long documents (manuals, long-form reviews, a rule book) are built from
hand-written paragraphs plus generated tables and logs.
"""

# ruff: noqa: RUF001  (the documents use real typography: the multiplication sign in sizes)

from __future__ import annotations

import csv
import random
import re
import sys
from pathlib import Path

SEED = 20240611
N_REVIEWS = 2400

# ----------------------------------------------------------------------------- products
# (name, noun, plural, tags): "noun" is what a reviewer calls it ("this kettle", "these
# shoes"); tags (with the noun and the category) decide which sentences fit the product.

Product = tuple[str, str, bool, frozenset[str]]


def _products(rows: list[tuple[str, str, bool, str]], category: str) -> list[Product]:
    return [(n, noun, pl, frozenset({noun, category, *tags.split()})) for n, noun, pl, tags in rows]


PRODUCTS: dict[str, list[Product]] = {
    "electronics": _products(
        [
            ("Voltix Wireless Earbuds", "earbuds", True, "powered"),
            ("Boomcube Bluetooth Speaker", "speaker", False, "powered"),
            ("Voltix 65W USB-C Charger", "charger", False, "powered"),
            ("Voltix ANC 700 Headphones", "headphones", True, "powered"),
            ("Pulse 3 Smart Watch", "watch", False, "powered"),
            ("Juicebox 20000mAh Power Bank", "power bank", False, "powered"),
            ("ClearView 4K Webcam", "webcam", False, "powered"),
            ("Keyforge TKL Mechanical Keyboard", "keyboard", False, "powered"),
            ("Glide Wireless Mouse", "mouse", False, "powered"),
            ("Linkline HDMI 2.1 Cable (2 m)", "cable", False, ""),
            ("Pagewise E-Reader", "e-reader", False, "powered"),
            ("Homely Smart Plug (2-pack)", "plugs", True, "powered"),
        ],
        "electronics",
    ),
    "kitchen": _products(
        [
            ("CrispPro 5.8 qt Air Fryer", "air fryer", False, "powered"),
            ("Hearthstone 12-inch Cast Iron Skillet", "skillet", False, ""),
            ("Edgewell 8-inch Chef's Knife", "knife", False, ""),
            ("Quickboil Electric Kettle", "kettle", False, "powered"),
            ("Vortex 1200 Blender", "blender", False, "powered"),
            ("Everyday Non-Stick Pan Set", "pans", True, ""),
            ("Burr & Bean Coffee Grinder", "grinder", False, "powered"),
            ("Trailcool Steel Water Bottle", "bottle", False, ""),
            ("Bakeright Silicone Baking Mats", "mats", True, ""),
            ("Probe One Instant-Read Thermometer", "thermometer", False, "powered"),
            ("Morning 2-Slice Toaster", "toaster", False, "powered"),
            ("Stackwise Glass Food Containers", "containers", True, ""),
        ],
        "kitchen",
    ),
    "books": _products(
        [
            ("The Salt Road (novel)", "book", False, "fiction"),
            ("Quiet Harbors (paperback)", "book", False, "fiction"),
            ("Cooking for One: 100 Weeknight Recipes", "cookbook", False, ""),
            ("A Field Guide to Backyard Birds", "guide", False, ""),
            ("Python for Busy People", "book", False, "tech"),
            ("The Last Lighthouse Keeper", "book", False, "fiction"),
            ("Midnight at the Orchard (mystery)", "book", False, "fiction mystery"),
            ("Small Habits, Big Changes", "book", False, "selfhelp"),
            ("The Atlas of Lost Rivers", "book", False, "nonfiction atlas"),
            ("Bedtime Stories for Little Dreamers", "book", False, "kids"),
            ("Stars Over Kettle Creek", "book", False, "fiction"),
        ],
        "books",
    ),
    "clothing": _products(
        [
            ("Men's Everyday Crew Neck T-Shirt", "shirt", False, ""),
            ("Women's Packable Rain Jacket", "jacket", False, ""),
            ("Slim Fit Stretch Jeans", "jeans", True, ""),
            ("Merino Wool Hiking Socks", "socks", True, ""),
            ("Heavyweight Fleece Hoodie", "hoodie", False, ""),
            ("Linen Summer Dress", "dress", False, ""),
            ("Lightweight Puffer Vest", "vest", False, ""),
            ("Full-Grain Leather Belt", "belt", False, ""),
            ("Flannel Pajama Set", "pajamas", True, ""),
            ("Chino Shorts 9-inch", "shorts", True, ""),
            ("Cable Knit Beanie", "beanie", False, ""),
        ],
        "clothing",
    ),
    "toys": _products(
        [
            ("Magnetic Building Tiles (60 pcs)", "tiles", True, ""),
            ("Turbo Racer Remote Control Car", "car", False, "powered"),
            ("Harbor Lights 1000-Piece Jigsaw Puzzle", "puzzle", False, ""),
            ("Rex the Plush Dinosaur", "dinosaur", False, ""),
            ("Wooden Train Set (52 pcs)", "train set", False, ""),
            ("Kids' Double-Sided Art Easel", "easel", False, ""),
            ("Castle Quest Board Game", "game", False, ""),
            ("Bolt STEM Robot Kit", "robot kit", False, "powered"),
            ("Bubble Blast Bubble Machine", "bubble machine", False, "powered"),
            ("Maple Lane Dollhouse", "dollhouse", False, ""),
            ("Splash Pro Water Blaster", "water blaster", False, ""),
        ],
        "toys",
    ),
    "garden": _products(
        [
            ("Cedar Raised Garden Bed Kit", "garden bed", False, ""),
            ("Flexi 50 ft Expandable Garden Hose", "hose", False, ""),
            ("Sharpcut Bypass Pruning Shears", "shears", True, ""),
            ("Glow Solar Path Lights (8-pack)", "lights", True, "powered"),
            ("Squirrel-Proof Bird Feeder", "feeder", False, ""),
            ("Tumbler Compost Bin", "compost bin", False, ""),
            ("Cushy Garden Kneeling Pad", "kneeling pad", False, ""),
            ("Rainmaker Oscillating Sprinkler", "sprinkler", False, ""),
            ("Heavy-Duty Tomato Cages (4-pack)", "cages", True, ""),
            ("Seed Starter Tray Kit", "seed trays", True, ""),
            ("Gust 40V Cordless Leaf Blower", "leaf blower", False, "powered"),
        ],
        "garden",
    ),
    "beauty": _products(
        [
            ("Glow Drops Vitamin C Serum", "serum", False, "skincare"),
            ("Airlux Ionic Hair Dryer", "hair dryer", False, "powered"),
            ("Daily Moisturizing Face Cream", "cream", False, "skincare"),
            ("Mineral Sunscreen SPF 50", "sunscreen", False, "skincare"),
            ("Softtouch Makeup Brush Set", "brushes", True, ""),
            ("Brightsmile Sonic Electric Toothbrush", "toothbrush", False, "powered"),
            ("Citrus Mint Shampoo Bar", "shampoo bar", False, ""),
            ("Pastel Nail Polish Set", "nail polish", False, ""),
            ("Wavemaker 1-inch Curling Iron", "curling iron", False, "powered"),
            ("Honey Lip Balm (4-pack)", "lip balm", False, ""),
            ("Hydrating Sheet Masks (10-pack)", "masks", True, "skincare"),
        ],
        "beauty",
    ),
    "sports": _products(
        [
            ("Grip Plus 6 mm Yoga Mat", "yoga mat", False, ""),
            ("Adjustable Dumbbells 5-52 lb", "dumbbells", True, ""),
            ("Trailblazer 2 Running Shoes", "shoes", True, ""),
            ("Loop Resistance Bands (5 levels)", "bands", True, ""),
            ("High-Density Foam Roller", "foam roller", False, ""),
            ("Padded Cycling Gloves", "gloves", True, ""),
            ("Speed Jump Rope", "jump rope", False, ""),
            ("Ridgeline 30L Hiking Backpack", "backpack", False, ""),
            ("Baseline Graphite Tennis Racket", "racket", False, ""),
            ("Summit 2-Person Camping Tent", "tent", False, ""),
            ("Clearwave Anti-Fog Swim Goggles", "goggles", True, ""),
        ],
        "sports",
    ),
}

# Share of each category among the reviews (roughly how often people review such things).
CATEGORY_WEIGHTS = {
    "electronics": 18,
    "kitchen": 15,
    "books": 12,
    "clothing": 14,
    "toys": 11,
    "garden": 9,
    "beauty": 11,
    "sports": 10,
}
# A J-shaped rating distribution, as on real shops.
STAR_WEIGHTS = {5: 41, 4: 22, 3: 11, 2: 9, 1: 17}

WHO = [
    "my son", "my daughter", "my wife", "my husband", "my mom", "my dad", "my partner",
    "my roommate", "my sister", "my brother", "my grandma", "my best friend", "my teenager",
]  # fmt: skip
KID = [
    "my son", "my daughter", "my 4-year-old", "my 6 year old", "my 9-year-old", "my nephew",
    "my niece", "my grandson", "my granddaughter", "my youngest", "my toddler",
]  # fmt: skip
TIME = [
    "a week", "two weeks", "a month", "six weeks", "two months", "three months", "six months",
    "almost a year", "a year", "over a year",
]  # fmt: skip

# ----------------------------------------------------------------------------- phrase banks
# A sentence may start with "tags|": it fits a product having any of the tags (a noun, a
# category or a tag from PRODUCTS); "!tag" excludes products with that tag. An UPPER-CASE
# tag is an exclusive group: a review gets at most one sentence of each (FAIL: "it broke";
# SIZE, BATTERY, NOISE, SKIN), so it does not contradict itself. No prefix: fits
# everything. "{a|b|c}" inside a sentence picks one of the alternatives at random.
# Fields: {ref} "this kettle"/"these shoes", {Ref}, {it}/{It}, {obj} it/them, {is}, {was},
# {has}, {s} and {es} (verb endings: "work{s}", "go{es}"), {noun}, {who}, {kid}, {Kid}, {time}.

OPEN = {
    "pos": [
        "Exactly what I was looking for.",
        "{Love|Absolutely love|Really love} {ref}!",
        "Honestly one of the best purchases I've made this year.",
        "I was skeptical at first but {ref} won me over.",
        "Bought {obj} for {who} and {it} {is} a hit.",
        "Second time buying {ref} and I'd buy {obj} again.",
        "Great value for the money.",
        "!books|Does exactly what it says on the box.",
        "I did a lot of research before choosing {ref} and I'm glad I did.",
        "Wow. Just wow.",
        "!books|Ordered on Monday, arrived Wednesday, and I've used {obj} every day since.",
        "!books,toys|Replaced my old {noun} with {ref} and the difference is night and day.",
        "So happy with {ref}.",
        "Really impressed, especially at this price.",
        "This is my third one, I keep giving them away as gifts.",
        "After {time} I can finally write a proper review.",
        "Perfect.",
        "!books|Better than the expensive brand I had before.",
        "Came recommended by {who} and now I get why.",
        "Five stars, no hesitation.",
    ],
    "neg": [
        "{Very|Really|So} disappointed.",
        "Do not buy {ref}.",
        "I really wanted to like {ref}, but no.",
        "What a waste of money.",
        "Returned {obj} the next day.",
        "!books|Cheaply made and it shows.",
        "!books|Looks nothing like the pictures.",
        "Not worth half the price.",
        "I rarely write reviews but I have to warn people about {ref}.",
        "Total junk.",
        "Bought {obj} for {who} and {it} {was} a letdown.",
        "This was a gift and I'm embarrassed I gave {obj}.",
        "Buyer beware.",
        "!books|Second one I've had with the same problem, so it's not a fluke.",
        "Save yourself the hassle.",
        "Ugh.",
        "I should have read the one-star reviews first.",
        "!books|Terrible quality control.",
        "Worst {noun} I've ever bought.",
        "Had high hopes. They were not met.",
    ],
    "mix": [
        "It's fine, I guess.",
        "Mixed feelings about {ref}.",
        "Decent, but not great.",
        "Some things I like, some I don't.",
        "Three stars feels right.",
        "Good idea, so-so execution.",
        "!books|It does the job, mostly.",
        "Not bad for the price, not amazing either.",
        "I'm on the fence about {ref}.",
        "Average.",
        "!books|Okay for occasional use.",
        "Neither love {obj} nor hate {obj}.",
    ],
}

GENERAL = {
    "pos": [
        "Shipping was fast and {it} arrived well packaged.",
        "!books|The quality feels much more expensive than what I paid.",
        "electronics,train set,easel,dollhouse,robot kit,bubble machine|Setup took less than five minutes.",
        "Customer service answered my question within an hour.",
        "!books,beauty|I've used {obj} almost every day for {time} and {it} still look{s} new.",
        "Worth every penny.",
        "!books,beauty|{Ref} {has} held up really well so far.",
        "!books,kitchen|Everyone who sees {obj} asks where I got {obj}.",
        "electronics,kitchen,toys,garden,sports|Simple, sturdy and well designed.",
        "electronics,toys,garden|The instructions were clear and easy to follow.",
        "!books,clothing|{It} work{s} exactly as described.",
        "Packaging was minimal and recyclable, which I appreciate.",
        "kitchen,beauty,sports|Fits perfectly into my routine.",
        "No complaints whatsoever.",
        "!books|The photos don't do {obj} justice.",
    ],
    "neg": [
        "FAIL,powered|{Stopped working|Quit working|Died|Stopped working completely} after {a week|about a week|one week|eight days}.",
        "FAIL,!books,beauty,clothing|Broke within the first month.",
        "Customer service never answered my emails.",
        "The return process was a nightmare.",
        "electronics,kitchen,toys,garden,sports|Arrived with a crack and parts missing.",
        "electronics,kitchen,toys,garden,sports|It feels flimsy and cheap in the hand.",
        "electronics,toys,garden|The instructions are useless.",
        "FAIL,!books,beauty|After {time} {it} {is} falling apart.",
        "!books|Smelled strongly of chemicals out of the box.",
        "The description is misleading.",
        "Clearly a used item that was resold as new.",
        "!books|The replacement they sent had the same defect.",
        "FAIL,powered|Died right after the return window closed, of course.",
        "powered|Half the features don't work as advertised.",
        "It took three weeks to arrive and was damaged anyway.",
    ],
}

MINOR_CON = [
    "Only complaint is the packaging was a bit over the top.",
    "electronics,kitchen,toys,garden|Knocked off one star because the instructions could be clearer.",
    "!books|My one gripe is the color is slightly different from the photo.",
    "!books|Wish {it} came in more colors.",
    "A little pricey, but you get what you pay for.",
    "Took a day or two longer to arrive than promised.",
    "The box was dented, but {ref} {was} fine.",
    "!beauty,clothing|It's slightly heavier than I expected.",
    "!books|Minus one star for the strong new-product smell, which went away after a few days.",
    "Not perfect, but close.",
    "powered|The manual is tiny and hard to read.",
    "powered|I'd love a version with a longer warranty.",
]
MINOR_PRO = [
    "!books|To be fair, {it} look{s} nice.",
    "The price was low, so I guess I shouldn't be surprised.",
    "Customer service was polite at least.",
    "Packaging was nice, shame about the product.",
    "powered|It worked fine for the first few days.",
    "The idea is good, the execution isn't.",
    "Giving two stars because the refund was quick.",
    "Not the worst thing I've bought, I suppose.",
]

CLOSE = {
    "pos": [
        "{Would buy again.|Would definitely buy again.|Would buy again in a heartbeat.}",
        "{Highly recommend!|Highly recommended.|Would highly recommend.}",
        "Already ordered a second one.",
        "Can't recommend {obj} enough.",
        "Ten out of ten.",
        "Buy {obj}, you won't regret it.",
        "Definitely recommend to friends and family.",
        "Very happy customer here.",
        "Worth it.",
        "Will be buying {obj} as gifts this year.",
        "Five stars.",
        "Glad I took the chance.",
    ],
    "neg": [
        "{Save your money.|Save your money, seriously.|Keep your money.}",
        "Returning {obj}.",
        "Never again.",
        "Avoid.",
        "I want my money back.",
        "Would give zero stars if I could.",
        "Look elsewhere.",
        "Not recommended.",
        "Lesson learned.",
        "Back in the box {it} go{es}.",
        "Spend a little more and get something decent.",
        "Reported to the seller, waiting for a refund.",
    ],
    "mix": [
        "Might keep {obj}, haven't decided yet.",
        "Okay if you can get {obj} on sale.",
        "Wouldn't buy again, but won't return {obj} either.",
        "You could do better, but you could also do worse.",
        "It's fine for what it is.",
        "Would maybe recommend with reservations.",
        "If they fix the issues I'd give five stars.",
        "Meh.",
    ],
}

SHORT = {
    5: ["Love it!", "Perfect.", "Excellent product.", "!books|Works great.", "Five stars!", "Amazing!!",
        "Great quality.", "Highly recommend.", "Exactly as described.", "Best purchase ever."],
    4: ["Pretty good.", "Very nice, minor issues.", "Good product.", "!books|Works well.", "Happy with it."],
    3: ["It's ok.", "Average.", "Meh.", "!books|Does the job.", "Fine for the price."],
    2: ["Not great.", "Disappointing.", "Poor quality.", "Wouldn't buy again."],
    1: ["Junk.", "Terrible.", "FAIL,!books,clothing,beauty|Broke immediately.", "Don't waste your money.", "Awful.",
        "FAIL,powered|{Stopped working after a week.|Dead after a week.|Quit after six days.}"],
}  # fmt: skip

ASPECT: dict[str, dict[str, list[str]]] = {
    "electronics": {
        "pos": [
            "BATTERY,earbuds,speaker,headphones,watch,power bank,mouse|Battery life is excellent, I only charge {obj} twice a week.",
            "earbuds,speaker,headphones|Sound is crisp with surprisingly deep bass for the size.",
            "earbuds,speaker,headphones,watch,mouse,keyboard|Paired instantly and never drops the connection.",
            "charger,power bank|Charges my laptop and phone at the same time without getting hot.",
            "earbuds,headphones|The noise cancelling is good enough for a long flight.",
            "webcam|Picture quality on video calls is sharp, even in a dim room.",
            "watch,plugs|The app is simple and doesn't ask for a hundred permissions.",
            "keyboard|Keys feel great to type on and the switches are nicely tactile.",
            "BATTERY,earbuds,speaker,headphones,watch,mouse|Battery easily lasts a full day of heavy use.",
            "electronics,!cable|Build quality is solid, no creaks or rattles.",
            "earbuds,speaker,headphones,plugs|Range is great, I can walk around the whole house without dropouts.",
            "webcam,keyboard,mouse,charger|Works with both my Mac and my Windows laptop with no drivers.",
            "watch,earbuds,headphones,plugs,e-reader|A firmware update added features instead of breaking things.",
            "charger,power bank|Fast charging actually works, 0 to 80 percent in about forty minutes.",
            "earbuds,headphones,watch|Comfortable enough to wear all day.",
            "watch,e-reader|Screen is easy to read even in direct sunlight.",
            "earbuds,headphones,mouse,keyboard|Latency is low enough for gaming.",
            "plugs|Set up schedules in two minutes and they've switched the lamps on reliably every evening.",
            "power bank|Charged my phone four times on a camping weekend.",
            "mouse|Tracks perfectly on every surface I've tried, even glass.",
            "watch|Step and heart rate counts match my chest strap closely.",
            "e-reader|The warm light makes reading in bed so much easier on the eyes.",
            "e-reader|The battery lasts weeks between charges.",
            "charger|Small enough to fit in a jacket pocket and charges everything I own.",
            "cable|Runs 4K at 120 Hz to my TV with no flicker at all.",
            "cable|Finally a cable that doesn't cut out when I move the console.",
            "webcam|The built-in privacy shutter is a nice touch.",
            "cable|Braided, well made, and long enough to reach the console behind the TV.",
        ],
        "neg": [
            "FAIL,!cable|{Stopped working|Quit on me|Gave up} after {a week|just a week|about a week|nine days}, {won't turn on at all|won't even power on|completely dead}.",
            "FAIL,earbuds,speaker,headphones,watch,power bank,mouse,e-reader|Died after eight days of light use.",
            "FAIL,earbuds,speaker,headphones,watch,power bank,mouse,e-reader|Worked for about ten days, then stopped charging completely.",
            "FAIL,earbuds|The left earbud stopped working after two weeks.",
            "BATTERY,earbuds,speaker,headphones,watch|Battery life is nowhere near what they claim, maybe three hours.",
            "power bank|Claims 20000mAh but barely charges my phone once.",
            "earbuds,speaker,headphones,watch,mouse,keyboard|Keeps disconnecting every few minutes.",
            "charger,power bank|Gets alarmingly hot while charging.",
            "earbuds,speaker,headphones|The sound is tinny and distorts at half volume.",
            "watch,plugs|The app crashes constantly and needs an account just to turn {obj} on.",
            "FAIL,BATTERY,earbuds,speaker,headphones,watch,power bank,mouse,e-reader|Stopped holding a charge after a month.",
            "earbuds,headphones,webcam|Microphone quality is terrible, people said I sounded like I was in a tunnel.",
            "earbuds,speaker,headphones|There's a constant hiss even with nothing playing.",
            "earbuds,speaker,headphones,watch,power bank,mouse,e-reader|The charging port is loose and only works at a certain angle.",
            "FAIL,watch,plugs,e-reader,earbuds,headphones|A firmware update bricked {obj}.",
            "webcam|The picture is grainy and the autofocus hunts constantly.",
            "keyboard|Two of the keys started double typing within a month.",
            "FAIL,!cable|Completely dead after the first week, not even a light.",
            "cable|Flickers and drops to a black screen every few minutes.",
            "FAIL,cable|Stopped working after a week, the TV just says no signal.",
            "cable|Doesn't do 4K at 120 Hz despite what the label says.",
            "mouse|The scroll wheel started skipping after a couple of weeks.",
            "plugs|They drop off the Wi-Fi every night and have to be paired again.",
            "charger|Only charges at full speed with the brand's own cable.",
            "e-reader|The screen froze on page one and a reset didn't help.",
            "watch|Step count is wildly off, it counted 3,000 steps on a car ride.",
            "cable|The connector is so bulky it blocks the port next to it.",
        ],
        "mix": [
            "BATTERY,earbuds,speaker,headphones|Sound is good but the battery barely lasts a day.",
            "watch,plugs|Great features, but the app is clunky.",
            "earbuds,speaker,headphones|Connection is stable, though the controls are fiddly.",
            "charger,power bank|Charging speed is fine, but the cable it came with is way too short.",
            "webcam|Picture is decent in daylight and noisy at night.",
            "earbuds,headphones|Comfortable, but the noise cancelling is only average.",
            "keyboard|Types nicely, but the keycaps got shiny within weeks.",
            "cable|Works, but it's stiffer and thicker than I expected.",
            "e-reader|Great screen, but the page turn buttons are mushy.",
            "mouse|Comfortable shape, though the clicks are loud.",
            "watch,power bank,plugs,charger|Does what it says, though it's bulkier than I expected.",
            "webcam,keyboard,mouse,e-reader|Good hardware, but the software is clunky.",
        ],
    },
    "kitchen": {
        "pos": [
            "air fryer|Makes the crispiest fries I've had outside a restaurant.",
            "air fryer,skillet,pans|Heats up fast and holds an even temperature.",
            "air fryer,pans,mats,blender|Cleanup is a breeze, everything just wipes off.",
            "containers,mats,pans|Dishwasher safe and still looks brand new.",
            "knife|Came razor sharp out of the box and still is after {time}.",
            "kettle|Boils a full kettle in about three minutes.",
            "blender|Crushes ice and frozen fruit without any trouble.",
            "bottle|Keeps my coffee hot for hours and cold water cold all day.",
            "skillet|The seasoning was great right out of the box.",
            "air fryer,toaster,grinder,blender,kettle|Takes up less counter space than I expected.",
            "pans,skillet|Nothing sticks, not even eggs.",
            "grinder|The grind is consistent from espresso fine to French press coarse.",
            "containers,bottle|The lids seal tight, no leaks in my lunch bag.",
            "thermometer|Reads the temperature in two seconds, perfect for steaks.",
            "toaster|Toasts evenly on both sides, even thick bagels.",
            "NOISE,kettle,blender,grinder,air fryer|Quiet compared to my old one.",
            "knife|Perfectly balanced and comfortable even for a big batch of prep.",
            "skillet|Gets a steakhouse sear and goes straight from the stove into the oven.",
            "mats|My cookies bake evenly and slide right off, no parchment needed.",
            "thermometer|Checked it in ice water and boiling water and it was spot on both times.",
            "containers|The glass doesn't stain, even with tomato sauce.",
            "bottle|Fits in my car's cup holder and doesn't sweat.",
            "knife|Holds its edge well and cuts tomatoes paper thin.",
            "thermometer|The probe folds away and the magnet keeps it on the fridge.",
            "toaster|The bagel setting and the extra-lift lever are genuinely useful.",
        ],
        "neg": [
            "pans|The non-stick coating started peeling after a month.",
            "air fryer|The basket coating scratched after a few uses.",
            "thermometer|Takes ages to settle on a reading.",
            "toaster|The crumb tray doesn't slide out, so crumbs go everywhere.",
            "kettle,blender|Leaks from the bottom every time I use {obj}.",
            "FAIL,blender|The motor burned out on the third smoothie.",
            "knife,skillet|Rusted after one wash even though I dried {obj} right away.",
            "FAIL,kettle,air fryer,toaster|Stopped heating after a week.",
            "air fryer,kettle|The plastic smell never went away and everything tasted of it.",
            "knife|Dull after a couple of weeks of normal use.",
            "containers,blender|The lid cracked the first time it went in the dishwasher.",
            "toaster|Toasts one side and leaves the other side pale.",
            "NOISE,blender,grinder|Way too loud, it sounds like a jet engine.",
            "pans,skillet,kettle|The handle gets too hot to touch.",
            "pans|Warped on the first use on a gas stove.",
            "thermometer|The readings are off by ten degrees.",
            "pans,mats|Food sticks no matter what I do.",
            "FAIL,thermometer,grinder,air fryer,kettle,toaster|{Stopped working|Broke|Quit} {after a week|within the first week|after only a few uses}.",
            "bottle|Coffee is lukewarm after two hours, so much for insulated.",
            "grinder|The grind is wildly uneven, boulders and dust together.",
            "mats|They left a weird greasy film on everything I baked.",
            "skillet|The surface is rough and the seasoning flaked off after the first use.",
            "bottle,containers|The seal failed and everything leaked all over my bag.",
            "knife|The tip snapped off the first time I cut a squash.",
            "bottle|The paint chipped off the first time I dropped it.",
            "mats|They smell like burning plastic in the oven.",
            "FAIL,thermometer|The display went blank after a few uses and a new battery didn't help.",
            "containers|The glass cracked going from the fridge to the microwave.",
            "FAIL,toaster|The lever won't stay down anymore after two weeks.",
        ],
        "mix": [
            "air fryer|Cooks well, but the basket is smaller than I expected.",
            "knife|Sharp enough, though the handle is a bit slippery when wet.",
            "NOISE,kettle,blender,grinder|Works well but it's louder than I'd like.",
            "blender,air fryer,grinder|Does a good job, but cleaning all the parts is a chore.",
            "containers,bottle|Works fine, though the lid is awkward to open.",
            "pans,skillet|Cooks evenly, but it's heavier than I'd like.",
            "thermometer|Accurate, but the display is hard to read in a dim kitchen.",
            "toaster|Toasts fine, but the slots are too narrow for homemade bread.",
            "mats|Work okay, but they don't lie completely flat.",
            "Does the job, but it feels a little cheap for the price.",
        ],
    },
    "books": {
        "pos": [
            "fiction|I couldn't put it down and finished it in one weekend.",
            "fiction|The characters felt like real people I'd known for years.",
            "fiction,nonfiction|Beautifully written, some sentences I read twice just to enjoy them.",
            "fiction|The ending made me cry on the train.",
            "cookbook|The recipes are simple and actually work on a weeknight.",
            "guide|The illustrations are gorgeous and really help with identification.",
            "atlas|The maps are gorgeous, I keep finding new details.",
            "tech,selfhelp,cookbook|Explains things clearly without talking down to the reader.",
            "kids|My kids ask for this one every single night.",
            "fiction|A slow start, but the second half is brilliant.",
            "mystery|The twist in the last chapter caught me completely off guard.",
            "Printed on nice thick paper and the binding is sturdy.",
            "selfhelp,cookbook,tech|Practical advice I started using the same day.",
            "fiction,selfhelp|The audiobook narrator is excellent too.",
            "fiction|Perfect book for a rainy afternoon.",
            "tech|Every chapter ends with exercises that actually help.",
            "kids|Short stories that are just the right length for bedtime, with lovely pictures.",
            "nonfiction|Full of stories I'd never heard, and I've read a lot of history.",
            "guide|Small enough to take on walks, and I've identified twenty new birds.",
            "cookbook|Every recipe I've tried has been a keeper.",
        ],
        "neg": [
            "fiction|The plot drags and nothing happens for two hundred pages.",
            "fiction|I guessed the ending by chapter three.",
            "Full of typos and formatting errors.",
            "tech,cookbook,guide,atlas|The Kindle version has broken tables and missing images.",
            "fiction|The characters are flat and the dialogue is painful.",
            "cookbook|Half of the recipes call for ingredients I couldn't find anywhere.",
            "The pages started falling out the first time I opened it.",
            "selfhelp,nonfiction|Could have been a blog post, it repeats the same idea over and over.",
            "tech|The code examples don't run and some are just wrong.",
            "Arrived with a bent cover and a coffee stain on the edge.",
            "fiction|The ending felt rushed and made no sense.",
            "selfhelp|Way too much filler and not enough substance.",
            "The print is so small I needed a magnifying glass.",
            "fiction,selfhelp,nonfiction,tech|Did not finish, and I finish almost everything.",
            "kids|The stories are oddly dark for little ones, my daughter had nightmares.",
            "guide|Half the birds in the pictures look identical, useless for identification.",
            "cookbook|The cooking times are way off, everything came out burnt.",
        ],
        "mix": [
            "fiction|Good story, but it needed a stronger editor.",
            "fiction,nonfiction|Lovely writing, slow pace.",
            "fiction,nonfiction,selfhelp,tech|Some chapters are great and others are forgettable.",
            "cookbook,guide,tech,atlas|Useful content, though the layout is cluttered.",
            "fiction|The first half is gripping, the second half loses its way.",
            "kids|Sweet stories, but the illustrations are a bit dull.",
            "cookbook|A few great recipes, a lot of filler.",
            "guide|Good photos, but it's too heavy to carry outside.",
            "Some good parts, but I expected more from the reviews.",
        ],
    },
    "clothing": {
        "pos": [
            "SIZE,!belt|{Fits true to size|True to size|Sizing is spot on} and the fabric is {soft|really soft|lovely}.",
            "belt|Good thick leather and the buckle feels solid.",
            "!belt|Washed {obj} several times and there's no shrinking or fading.",
            "The color is exactly like the photo.",
            "So comfortable I've been wearing {obj} all week.",
            "jacket|Kept me completely dry in a downpour.",
            "Great quality stitching, nothing loose.",
            "hoodie,vest,beanie,socks,jacket|Warm without being bulky.",
            "shirt,dress,shorts|The fabric breathes well in hot weather.",
            "dress,jeans,shorts|Flattering cut and the length is perfect for me.",
            "jacket,vest|Packs down small enough to fit in my bag.",
            "SIZE,shirt,hoodie,jacket,vest,pajamas|{I'm 5'9 and 160 lbs, ordered a medium|I'm 5'4 and 125 lbs, ordered a small|I'm 6'1 and 190 lbs, ordered a large} and {it} fit{s} perfectly.",
            "shirt,hoodie,pajamas,socks,beanie|Soft right out of the package, no scratchiness at all.",
            "!socks,pajamas|Got lots of compliments the first time I wore {obj}.",
            "jeans,shorts,jacket,hoodie,dress|The pockets are deep enough for my phone.",
            "socks|No blisters after a 12-mile hike, and they don't smell after a day.",
            "belt|Looks even better after a few months of wear.",
            "jeans|Stretchy enough to sit comfortably all day but they keep their shape.",
            "pajamas|The flannel is thick and cozy without getting too hot at night.",
        ],
        "neg": [
            "SIZE,!belt,beanie,socks|{Runs small, order a size up.|Runs small, size up.|Runs really small, go up a size.|Runs small. Order one size bigger than usual.}",
            "SIZE,jacket,jeans,vest,shorts|Runs at least two sizes small, I couldn't even zip {obj}.",
            "SIZE,!belt|Way too big, the sizing chart is completely off.",
            "shirt,jeans,hoodie,dress,pajamas,shorts,socks|Shrank a full size after one wash in cold water.",
            "shirt,jeans,hoodie,dress,pajamas,socks|The color bled onto everything else in the load.",
            "FAIL,!belt,beanie|A seam ripped the first time I wore {obj}.",
            "shirt,dress,pajamas|The fabric is thin and see-through.",
            "shirt,hoodie,socks,beanie,pajamas|Pilled after two washes.",
            "jacket|Not waterproof at all, I was soaked through in ten minutes.",
            "shirt,hoodie,jacket,pajamas|The sleeves are weirdly short for the size.",
            "hoodie,beanie,socks,pajamas,shirt|Scratchy and itchy, I couldn't wear {obj} for more than an hour.",
            "The color is nothing like the photo, more brown than red.",
            "FAIL,jacket,vest,jeans,shorts,hoodie|The zipper broke on the second day.",
            "SIZE,!belt,beanie,socks|Smaller than expected, had to {return|exchange} {it|them} for a larger size.",
            "belt|The leather peeled after a month, it's clearly bonded leather.",
            "FAIL,belt|The buckle snapped off within a week.",
            "beanie|Stretched out and now falls over my eyes.",
            "FAIL,socks|Holes in the heels after three wears.",
        ],
        "mix": [
            "SIZE,!belt,beanie,socks|Nice fabric, but {it runs a little small, so size up|the sizing runs small, so order one up}.",
            "!belt|Comfortable, though the color faded after a few washes.",
            "SIZE,shirt,hoodie,jacket,dress,vest|Fits well in the shoulders but too long in the body.",
            "shirt,dress,shorts,pajamas|Looks great, but it wrinkles if you just look at it.",
            "Looks good, although the stitching is a bit uneven.",
            "belt|Nice leather, but the holes are spaced too far apart.",
        ],
    },
    "toys": {
        "pos": [
            "{Great|Fantastic|Perfect} gift for {kids|a kid|little ones}, {kid} hasn't put {obj} down.",
            "Bought {obj} for {kid}'s {birthday|fifth birthday|seventh birthday} and {it} {was} the {favorite present|best gift of the day|hit of the party}.",
            "Got {obj} for {kid} {for Christmas|as a Christmas present|for the holidays} and {it} {was} a huge hit.",
            "game,puzzle,tiles,train set,robot kit|Now my go-to gift for kids' birthday parties.",
            "Already bought a second one as a gift for {my nephew|a friend's kids|my godson}.",
            "Keeps {kid} {busy|entertained|happy} for hours, which is a miracle.",
            "!puzzle,game|Sturdy enough to survive a toddler, and that's saying something.",
            "train set,easel,dollhouse,robot kit|Easy to put together, took about twenty minutes.",
            "robot kit,tiles,puzzle,game|Educational without feeling like homework.",
            "game,puzzle|The whole family ended up playing together.",
            "!puzzle,game|Bright colors and no sharp edges.",
            "car,robot kit|Batteries last a long time and {it} charge{s} by USB.",
            "!puzzle|My kids are 4 and 8 and both love {obj}.",
            "{Perfect|Great|Ideal|Lovely} {gift|present}, the kids were {thrilled|over the moon|so excited|delighted}.",
            "tiles,train set|Encourages creativity, every day they build something new.",
            "dinosaur|Washed {obj} in the machine and {it} came out perfect.",
            "train set,dollhouse,easel|Good quality wood and the paint is non-toxic.",
            "puzzle|The pieces fit snugly and the picture is beautiful, took us two weekends.",
            "car|Fast, tough, and survived crashing into every wall in the house.",
            "bubble machine|Makes a crazy amount of bubbles, the kids chase them for ages.",
            "water blaster|Shoots really far and refills quickly from a bucket.",
            "game|Easy to learn, and the adults enjoyed it as much as the kids.",
            "easel|Chalkboard on one side and whiteboard on the other, both wipe clean.",
            "dinosaur|Super soft and cuddly, {kid} sleeps with it every night.",
        ],
        "neg": [
            "FAIL,!puzzle,game,dinosaur|Broke within an hour of opening.",
            "FAIL,powered|{Stopped working|Broke} after {a week|a few days|the first week} and {the kids were heartbroken|my son was in tears|my daughter was so upset}.",
            "tiles,train set,game,robot kit,dollhouse|Pieces are too small for the age range on the box, a choking hazard.",
            "car|The remote stopped responding after two days.",
            "robot kit,dollhouse,easel,train set|The instructions were impossible to follow, even for adults.",
            "Way smaller than the pictures suggest.",
            "train set,dollhouse,easel,car|The paint started chipping off immediately.",
            "powered|Eats batteries like crazy.",
            "tiles|The magnets are weak and the tiles fall over constantly.",
            "puzzle,game,tiles,train set,robot kit|Pieces were missing from a brand new box.",
            "robot kit,game|Too complicated for the age it's marketed for.",
            "FAIL,dinosaur|The seams split and the stuffing came out in a week.",
            "{Kid} lost interest after ten minutes.",
            "puzzle|The pieces are thin cardboard and don't lock together.",
            "FAIL,water blaster|Leaked everywhere and the pump cracked on day two.",
            "bubble machine|Barely makes any bubbles and the solution leaks out.",
        ],
        "mix": [
            "tiles,train set,dollhouse,robot kit|The kids like {obj}, but some pieces don't fit together well.",
            "car,bubble machine,robot kit|Fun for a while, though it's louder than I'd like.",
            "Good gift, but smaller than it looks in the photos.",
            "powered|Entertaining, but the batteries don't last long.",
            "puzzle|Lovely picture, but lots of pieces look identical, very frustrating.",
            "game|Fun once you get it, but the rule book is confusing.",
            "dinosaur,easel,water blaster|Nice enough, but it feels cheaper than the price suggests.",
        ],
    },
    "garden": {
        "pos": [
            "shears,cages,feeder|Survived a whole winter outside without any rust.",
            "garden bed,compost bin,kneeling pad|Survived a whole winter outside and still looks great.",
            "garden bed,compost bin,cages,feeder|Assembly took about half an hour with no tools.",
            "feeder|The squirrels have finally given up.",
            "lights|They light up the path all night on a sunny day's charge.",
            "hose|No kinks, no leaks, and it stretches to the full length.",
            "shears|Cut cleanly through branches as thick as my thumb.",
            "cages,garden bed|My tomatoes have never been so healthy.",
            "seed trays|Nearly every seed germinated and the humidity domes work great.",
            "feeder|The birds found the feeder within a day.",
            "compost bin|Turns kitchen scraps into compost in a few weeks.",
            "kneeling pad|Saves my knees during long weeding sessions.",
            "sprinkler|Covers the whole lawn evenly.",
            "sprinkler,cages,kneeling pad,seed trays|Sturdy and well made.",
            "leaf blower|Powerful enough to clear wet leaves off the driveway.",
            "garden bed|The cedar smells great and looks beautiful.",
            "leaf blower|The battery lasts long enough for the whole yard.",
            "hose|Light enough that my mom can carry it around the garden.",
            "kneeling pad|Waterproof and wipes clean, and it's thick enough for gravel.",
            "lights|Easy to install, just push them into the ground.",
            "hose|The spray nozzle has seven patterns and they all work well.",
            "shears|Comfortable grip and the lock is easy to use with one hand.",
            "lights|They switch on by themselves at dusk and look lovely along the path.",
            "sprinkler|Easy to set the range so it doesn't water the driveway.",
            "seed trays|Sturdy trays that I'll reuse for years.",
            "leaf blower|Light enough to use one-handed for a whole afternoon.",
        ],
        "neg": [
            "FAIL,hose|Burst at the connector the second time I used {obj}.",
            "hose|It shrinks back so fast it whips across the patio.",
            "shears,cages,feeder,lights|Rusted after the first rain.",
            "lights|The solar lights barely glow and die by 10 pm.",
            "feeder|The squirrels emptied {obj} in an afternoon.",
            "FAIL,hose,compost bin,seed trays,kneeling pad,sprinkler|Cracked after one season in the sun.",
            "hose,sprinkler|Leaks from every joint.",
            "shears|Blades went dull after a few cuts and now they crush stems.",
            "garden bed|The boards don't line up and the screw holes are in the wrong place.",
            "compost bin|The panels don't line up and the lid won't close.",
            "cages|Too flimsy to hold up a full-grown tomato plant.",
            "FAIL,leaf blower|Stopped working after a week, the battery won't charge.",
            "FAIL,lights|Half of them stopped working after a week.",
            "feeder,lights,compost bin,cages|Blew over in the first storm.",
            "sprinkler|The spray pattern is uneven and floods one corner of the lawn.",
            "seed trays|The plastic is so thin the trays buckled when I picked them up full of soil.",
            "kneeling pad|Went flat as a pancake within a month.",
            "garden bed|The wood split while I was screwing it together.",
            "leaf blower|Loud, heavy, and barely moves dry leaves.",
            "garden bed|Arrived with two cracked boards and a missing bag of screws.",
            "FAIL,shears|The spring popped out and got lost after a week.",
            "kneeling pad|It soaks up water and stays wet for days.",
            "seed trays|The domes don't fit the trays, so the humidity just escapes.",
            "leaf blower|The battery takes five hours to charge for twenty minutes of use.",
        ],
        "mix": [
            "garden bed,compost bin,feeder|Works well, but assembly was a real pain.",
            "lights|They look nice, though they're dimmer than I hoped.",
            "hose|Does the job, but it kinks near the tap.",
            "compost bin|Decent capacity, but turning it when full is hard work.",
            "shears|Sharp, but the spring is stiff and my hand gets tired.",
            "sprinkler|Good coverage, but it's hard to adjust the spray width.",
            "leaf blower|Powerful, but the battery runs out after twenty minutes.",
            "cages,seed trays,kneeling pad|Fine for the price, but I doubt it'll last more than a season.",
            "Decent, but it feels a bit cheap for the price.",
        ],
    },
    "beauty": {
        "pos": [
            "SKIN,skincare|My skin has never looked this good.",
            "serum,cream,sunscreen|Absorbs quickly and doesn't leave a greasy feeling.",
            "SKIN,skincare|Gentle enough for my sensitive skin, no redness at all.",
            "hair dryer|Dries my thick hair in half the time.",
            "skincare,shampoo bar,lip balm|Smells amazing but not overpowering.",
            "sunscreen|No white cast at all, even on darker skin.",
            "serum,cream,shampoo bar|A little goes a long way, one {noun} lasts months.",
            "toothbrush|My dentist noticed the difference at my last check-up.",
            "curling iron|Holds curls all day, even in humid weather.",
            "serum|Dark spots have faded noticeably after {time}.",
            "brushes|The brushes are soft and didn't shed at all.",
            "nail polish|Lasts a full week without chipping.",
            "shampoo bar,hair dryer|Leaves my hair soft and shiny.",
            "lip balm|Fixed my chapped lips overnight.",
            "toothbrush|Battery lasts about three weeks between charges.",
            "masks|My skin feels plump and hydrated the next morning.",
            "brushes|Blending foundation is so much easier now.",
            "nail polish|Gorgeous colors and two coats look salon quality.",
            "hair dryer,curling iron|Heats up in seconds and the cord is nice and long.",
            "brushes|The case keeps them clean and they wash up like new.",
            "toothbrush|My teeth feel like I just came from the dentist every single day.",
            "nail polish|Dries fast and goes on smoothly in one even coat.",
            "curling iron|Gives me loose beachy waves in about ten minutes.",
            "lip balm|Not sticky at all and the honey scent is subtle.",
        ],
        "neg": [
            "SKIN,skincare|Broke me out in a rash within a day.",
            "toothbrush|The vibration is so strong it rattles my teeth and tickles my nose.",
            "SKIN,serum,cream,sunscreen|Caused breakouts all over my chin.",
            "skincare,shampoo bar,lip balm,nail polish|The smell is overwhelming and gave me a headache.",
            "sunscreen|Left a white cast that made me look like a ghost.",
            "shampoo bar,hair dryer,curling iron|Made my hair frizzy and dry.",
            "FAIL,powered|{Stopped turning on|Won't turn on anymore|Died} after {a week|ten days|two weeks}.",
            "curling iron|Burned my fingers even on the lowest setting.",
            "hair dryer|Gets so hot it burned my scalp on the lowest setting.",
            "cream,sunscreen,lip balm|Leaves a greasy film that never absorbs.",
            "brushes|The brushes shed everywhere on the first use.",
            "nail polish|Chipped within a day.",
            "serum,sunscreen,cream|Pilled under my makeup every single time.",
            "skincare,shampoo bar|Seems watered down compared to the version I bought last year.",
            "toothbrush|The brush heads are expensive and wear out in a month.",
            "masks|The sheets are too big and the essence dripped everywhere.",
            "lip balm|Waxy and does nothing, my lips are drier than before.",
            "FAIL,shampoo bar|Crumbled into pieces after a week in the shower.",
            "brushes|The glue let go and the head came off the handle.",
            "brushes|Scratchy bristles that leave streaks in my foundation.",
            "FAIL,toothbrush|Won't hold a charge anymore after a month.",
            "nail polish|Goopy and streaky, even after three coats.",
            "nail polish|Half the bottles arrived dried out.",
        ],
        "mix": [
            "skincare|Nice texture, but I haven't seen much difference yet.",
            "cream,sunscreen,lip balm|Smells lovely, though it's a bit greasy.",
            "serum,sunscreen,nail polish|Works well, but the bottle is tiny for the price.",
            "hair dryer|Good results on my hair, but it's heavy and loud.",
            "curling iron|Nice curls, but it takes forever to heat up.",
            "toothbrush|Cleans well, but the timer buzz is annoying.",
            "brushes|Soft, but the handles feel cheap.",
            "shampoo bar,lip balm,masks|Pleasant enough, but nothing special.",
            "Works okay, but I expected more for the price.",
        ],
    },
    "sports": {
        "pos": [
            "yoga mat|Great grip, even in hot yoga.",
            "shoes,gloves|Comfortable right out of the box, no break-in needed.",
            "shoes|I've put two hundred miles on {obj} and they still feel great.",
            "dumbbells|Adjusting the weight takes two seconds.",
            "yoga mat|Sturdy, and it doesn't slide on the floor.",
            "backpack,tent,racket,jump rope|Lightweight but tough.",
            "tent|Kept us dry through a night of heavy rain.",
            "shoes|Perfect cushioning for long runs.",
            "backpack|The straps are comfortable even with a full load.",
            "goggles|No fogging at all, even in a cold pool.",
            "foam roller,bands,yoga mat|My back pain is much better since I started using {obj}.",
            "SIZE,shoes|True to size and plenty of room in the toe box.",
            "SIZE,gloves|True to size and the padding really helps on long rides.",
            "dumbbells,bands,jump rope|Saved me a fortune compared to a gym membership.",
            "racket|Great control, and my backhand has never felt better.",
            "jump rope|Smooth bearings, no tangling, and easy to adjust the length.",
            "bands|Good range of resistance and they don't roll up on my legs.",
            "tent|Two of us pitched it in ten minutes, first time.",
            "foam roller|Firm enough to really work out the knots.",
            "goggles|Comfortable seal and they don't leave deep marks around my eyes.",
            "dumbbells|Replaced a whole rack of weights in my tiny apartment.",
            "foam roller|Keeps its shape even after months of daily use.",
            "gloves|The gel padding stopped my hands going numb on long rides.",
            "backpack|Plenty of pockets and the rain cover actually works.",
            "racket|Light and easy to swing, great for a beginner like me.",
            "goggles|Clear vision and they haven't leaked once.",
        ],
        "neg": [
            "SIZE,shoes|{Runs small, order a size up.|Run small, order half a size up.|These run small, go up half a size.|Runs about a size small, order up.}",
            "backpack|Not nearly as waterproof as advertised, my sleeping bag got soaked.",
            "racket|The grip tape started unravelling after a few games.",
            "SIZE,shoes|Runs a full size small, my toes were jammed against the front.",
            "SIZE,gloves|{Run small, order a size up.|Run a size small, so size up.}",
            "FAIL,shoes|The sole started separating after a month of running.",
            "yoga mat,racket,jump rope|Slippery as soon as I start sweating.",
            "dumbbells|The plates rattle and the lock feels unsafe.",
            "tent|The tent leaked at every seam in light rain.",
            "FAIL,backpack|The strap snapped on my first hike.",
            "yoga mat,bands,foam roller|Smelled like a chemical plant for weeks.",
            "goggles|Fogged up constantly and leaked water.",
            "shoes|Caused blisters on both heels on the first run.",
            "FAIL,jump rope,racket,backpack|The handle broke after a few weeks of use.",
            "SIZE,shoes|Way too narrow for normal feet.",
            "FAIL,bands|One of the bands snapped mid-workout and hit me in the face.",
            "foam roller|Lost its shape and has a dent after a month.",
            "FAIL,gloves|The padding flattened and the stitching came apart within weeks.",
            "FAIL,goggles|The strap snapped the second time I adjusted it.",
            "FAIL,racket|The frame cracked after a month of weekly games.",
            "yoga mat|Started flaking and leaving bits on my hands and clothes.",
            "dumbbells|The weight selector jams halfway between settings.",
            "tent|The poles are flimsy and one bent in the first gust of wind.",
            "dumbbells|The plastic trays cracked within a month.",
            "bands|They roll up and pinch my legs every set.",
            "foam roller|Way too soft to do anything.",
            "gloves|The velcro wore out and they won't stay closed.",
            "jump rope|The cable kinked on the first day and now it catches.",
            "backpack|The hip belt digs in and there's no way to adjust it.",
            "tent|Condensation dripped on us all night.",
            "goggles|The seal leaves deep red marks around my eyes for hours.",
        ],
        "mix": [
            "SIZE,shoes|Comfortable, but they run a bit small, so go half a size up.",
            "yoga mat|Good grip, though it's thinner than I expected.",
            "dumbbells|Solid build, but adjusting the weight is fiddly.",
            "shoes|Great on the road, not so great on wet trails.",
            "backpack,tent|Good design, but heavier than advertised.",
            "SIZE,gloves,goggles|Decent, but they run a little small.",
            "bands,jump rope,foam roller,racket|Does the job, but the quality is just okay.",
            "Decent quality, but I expected more for the price.",
        ],
    },
}

# ----------------------------------------------------------------------------- other languages
# (category, stars, text): a few reviews as they arrive on a multilingual shop.

FOREIGN = [
    ("electronics", 5, "Llegó rápido y funciona perfectamente. Muy contento con la compra."),
    ("electronics", 1, "Dejó de funcionar a la semana. No lo recomiendo."),
    ("kitchen", 5, "Funciona de maravilla, se limpia muy fácil y no ocupa casi espacio."),
    ("clothing", 2, "La talla es muy pequeña, pedid una talla más."),
    ("toys", 5, "A mi hijo le encantó, un regalo perfecto para su cumpleaños."),
    ("beauty", 4, "Buena crema, hidrata bien, aunque el olor es un poco fuerte."),
    ("books", 5, "Una novela preciosa, la leí en dos días."),
    ("garden", 1, "Se rompió el primer día. Dinero tirado."),
    ("electronics", 4, "Très bon rapport qualité-prix, la batterie tient bien la journée."),
    ("clothing", 5, "Taille parfaitement, tissu très agréable. Je recommande !"),
    ("kitchen", 1, "Le revêtement s'est abîmé après deux semaines. Déçue."),
    ("books", 3, "Bien écrit mais un peu long au milieu."),
    ("beauty", 5, "Ma peau est plus douce depuis que j'utilise ce produit. Parfait."),
    ("sports", 2, "Taille petit, prenez une taille au-dessus."),
    ("toys", 4, "Les enfants adorent, mais les piles s'usent vite."),
    ("garden", 5, "Très solide et facile à monter, je suis ravie."),
    ("electronics", 2, "Nach zwei Wochen ging der Akku kaputt. Schade."),
    ("kitchen", 5, "Super Qualität, sehr leise und schnell. Klare Kaufempfehlung!"),
    ("sports", 5, "Sehr gute Qualität und angenehm zu benutzen. Top!"),
    ("clothing", 1, "Nach dem ersten Waschen eingelaufen. Nie wieder."),
    ("toys", 5, "Tolles Geschenk für Kinder, meine Tochter spielt jeden Tag damit."),
    ("books", 4, "Spannend geschrieben, nur das Ende war etwas vorhersehbar."),
    ("garden", 3, "Funktioniert, aber der Aufbau hat ewig gedauert."),
    ("beauty", 1, "Hat bei mir sofort Hautausschlag verursacht."),
]
# Products the foreign reviews above fit (by noun), so that a review matches its product.
FOREIGN_NOUNS = [
    "power bank", "speaker", "air fryer", "jeans", "car", "cream", "book", "hose",
    "earbuds", "dress", "pans", "book", "serum", "shoes", "robot kit", "garden bed",
    "headphones", "kettle", "yoga mat", "shirt", "dollhouse", "book", "compost bin", "sunscreen",
]  # fmt: skip

# ----------------------------------------------------------------------------- decorations

EMOJI = {
    "pos": ["😍", "👍", "🔥", "⭐⭐⭐⭐⭐", "❤️", "🙌", "😊", "💯", "🎉"],
    "neg": ["😡", "👎", "🤬", "😞", "💩", "🙄", "😤"],
    "mix": ["🤷", "😐", "🤔", "🙂"],
}
MISSPELL = {
    "received": "recieved",
    "definitely": "definately",
    "quality": "qualtiy",
    "because": "becuase",
    "really": "realy",
    "it's": "its",
    "recommend": "reccomend",
    "though": "tho",
    "disappointed": "dissapointed",
    "comfortable": "comfortible",
    "you": "u",
    "great": "grate",
    "the": "teh",
    "your": "you're",
    "than": "then",
}


def add_typos(text: str, rng: random.Random) -> str:
    """One or two plausible typos: a common misspelling, swapped or dropped letters."""
    words = text.split(" ")
    for _ in range(rng.choice([1, 1, 2])):
        spots = [i for i, w in enumerate(words) if w.lower().strip(".,!?") in MISSPELL]
        if spots and rng.random() < 0.6:
            i = rng.choice(spots)
            core = words[i].strip(".,!?")
            words[i] = words[i].replace(core, MISSPELL[core.lower()])
            continue
        long_words = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
        if not long_words:
            continue
        i = rng.choice(long_words)
        w = words[i]
        j = rng.randrange(1, len(w) - 2)
        if rng.random() < 0.5:
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]  # swap two letters
        else:
            words[i] = w[:j] + w[j + 1 :]  # drop one
    return " ".join(words)


# ----------------------------------------------------------------------------- composing


_PREFIX = re.compile(r"^([!\w ,-]+)\|")
_CHOICE = re.compile(r"\{([^{}]*\|[^{}]*)\}")


def _parse(entry: str) -> tuple[frozenset[str], frozenset[str], frozenset[str], str]:
    """(required tags, excluded tags, exclusive groups, text) of a bank entry."""
    m = _PREFIX.match(entry)
    if m is None:
        return frozenset(), frozenset(), frozenset(), entry
    tags = [t.strip() for t in m.group(1).split(",")]
    groups = frozenset(t for t in tags if t.isupper())
    need = frozenset(t for t in tags if not t.isupper() and not t.startswith("!"))
    avoid = frozenset(t[1:] for t in tags if t.startswith("!"))
    return need, avoid, groups, entry[m.end() :]


def fitting(bank: list[str], product: Product) -> list[tuple[frozenset[str], str]]:
    """The entries of ``bank`` that fit ``product``, as (exclusive groups, text)."""
    tags = product[3]
    out = []
    for entry in bank:
        need, avoid, groups, text = _parse(entry)
        if (not need or need & tags) and not avoid & tags:
            out.append((groups, text))
    return out


class Picker:
    """Draws sentences for one review: never the same one twice, and at most one of each
    exclusive group (one "it broke" sentence, one about the size, the battery, ...), so a
    review does not contradict itself."""

    def __init__(self, product: Product, rng: random.Random) -> None:
        self.product, self.rng = product, rng
        self.used: set[str] = set()
        self.groups: set[str] = set()

    def __call__(self, bank: list[str]) -> str:
        """A fitting sentence of ``bank``; "" if every one is used or excluded."""
        options = [
            (groups, text)
            for groups, text in fitting(bank, self.product)
            if text not in self.used and not groups & self.groups
        ]
        if not options:
            return ""
        groups, text = self.rng.choice(options)
        self.used.add(text)
        self.groups |= groups
        return text


def vary(template: str, rng: random.Random) -> str:
    """Resolve inline alternatives: "{great|lovely} gift" -> "great gift" or "lovely gift"."""
    return _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), template)


def fill(template: str, product: Product, rng: random.Random) -> str:
    _, noun, plural, _ = product
    this = "these" if plural else "this"
    kid = rng.choice(KID)
    fields = {
        "noun": noun,
        "ref": f"{this} {noun}",
        "Ref": f"{this.capitalize()} {noun}",
        "it": "they" if plural else "it",
        "It": "They" if plural else "It",
        "obj": "them" if plural else "it",
        "is": "are" if plural else "is",
        "was": "were" if plural else "was",
        "has": "have" if plural else "has",
        "s": "" if plural else "s",
        "es": "" if plural else "es",
        "who": rng.choice(WHO),
        "kid": kid,
        "Kid": kid[0].upper() + kid[1:],
        "time": rng.choice(TIME),
    }
    return vary(template, rng).format_map(fields)


def sentiment(stars: int) -> str:
    return "pos" if stars >= 4 else "neg" if stars <= 2 else "mix"


def compose(category: str, product: Product, stars: int, rng: random.Random) -> str:
    """One review of 1-4 sentences whose tone matches ``stars``."""
    s = sentiment(stars)
    pick = Picker(product, rng)
    n = rng.choices([1, 2, 3, 4], weights=[20, 34, 30, 16])[0]
    aspects = ASPECT[category]
    if n == 1 and rng.random() < 0.45:
        parts = [pick(SHORT[stars])]
    else:
        if s == "mix":
            pick.groups.add("FAIL")  # a three-star review does not say "it broke"
            body = [pick(aspects["mix"])]
            extra = [pick(aspects["pos"]), pick(aspects["neg"])]
            rng.shuffle(extra)
            body += extra[: max(0, n - 2)]
        else:
            body = [pick(aspects[s]) for _ in range(1 if n <= 2 else 2)]
            if n >= 3 and rng.random() < 0.35:
                body[-1] = pick(GENERAL[s])
            if stars == 4 and rng.random() < 0.6:
                body.append(pick(MINOR_CON))
            if stars == 2 and rng.random() < 0.5:
                body.append(pick(MINOR_PRO))
        parts = []
        if n >= 2 and rng.random() < 0.55:
            parts.append(pick(OPEN[s]))
        parts += [b for b in body if b]
        if len(parts) < n:
            parts.append(pick(CLOSE[s]))
    text = " ".join(fill(p, product, rng) for p in parts if p)
    if rng.random() < 0.06:
        text = add_typos(text, rng)
    if rng.random() < 0.04:
        text = text.lower().replace(".", "").replace(",", "")
    if rng.random() < 0.015 and s != "mix":
        first, *rest = text.split(". ", 1)
        text = ". ".join([first.upper(), *rest])
    if rng.random() < 0.07:
        text = f"{text} {rng.choice(EMOJI[s])}"
    return text


def check_banks() -> None:
    """Every product has enough fitting sentences of every tone (fails loudly otherwise)."""
    for category, products in PRODUCTS.items():
        for product in products:
            for s, need in (("pos", 3), ("neg", 3), ("mix", 1)):
                found = len(fitting(ASPECT[category][s], product))
                if found < need:
                    raise AssertionError(f"{product[0]}: only {found} {s} sentences")
            survivable = [g for g, _ in fitting(ASPECT[category]["neg"], product) if "FAIL" not in g]
            if len(survivable) < 2:
                raise AssertionError(f"{product[0]}: fewer than 2 negative sentences without FAIL")
            for stars in SHORT:
                if not fitting(SHORT[stars], product):
                    raise AssertionError(f"{product[0]}: no short {stars}-star review")


def make_reviews(rng: random.Random) -> list[dict[str, object]]:
    check_banks()
    categories = list(CATEGORY_WEIGHTS)
    rows: list[dict[str, object]] = []
    for _ in range(N_REVIEWS):
        category = rng.choices(categories, weights=[CATEGORY_WEIGHTS[c] for c in categories])[0]
        product = rng.choice(PRODUCTS[category])
        stars = rng.choices(list(STAR_WEIGHTS), weights=list(STAR_WEIGHTS.values()))[0]
        text = compose(category, product, stars, rng)
        rows.append({"product": product[0], "category": category, "stars": stars, "text": text})
    for (category, stars, text), noun in zip(FOREIGN, FOREIGN_NOUNS, strict=True):
        fits = [p for p in PRODUCTS[category] if p[1] == noun]
        rows.append({"product": rng.choice(fits)[0], "category": category, "stars": stars, "text": text})
    # A handful of exact duplicates: the same review posted twice by the same customer.
    for _ in range(8):
        rows.append(dict(rng.choice(rows[:N_REVIEWS])))
    # Star-only ratings: no text at all (a missing value) or a blank one (whitespace only,
    # since a CSV cannot tell an empty string from a missing value).
    for i, blank in enumerate([None] * 9 + [" ", "  ", " ", "\t", "   ", " "]):
        category = rng.choice(categories)
        rows.append(
            {
                "product": rng.choice(PRODUCTS[category])[0],
                "category": category,
                "stars": [5, 4, 5, 1, 3, 5, 2, 4, 5, 1, 5, 4, 3, 5, 2][i],
                "text": blank,
            }
        )
    rng.shuffle(rows)
    for i, row in enumerate(rows):
        row["review_id"] = 100001 + i
    return rows


# ============================================================================= long documents
# Each document is a list of sections; a section is a heading plus paragraphs. Most of the
# prose is fixed; tables and logs are generated so the documents are long without repeating.


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def render(title: str, sections: list[tuple[str, list[str]]]) -> str:
    parts = [f"# {title}"]
    for heading, paragraphs in sections:
        parts.append(f"## {heading}")
        parts.extend(paragraphs)
    return "\n\n".join(parts)


def day_dates(rng: random.Random, n: int, start_day: int = 3) -> list[str]:
    """``n`` increasing dates in 2024, a few days apart."""
    months = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    out, day = [], start_day
    for _ in range(n):
        day += rng.choice([1, 2, 2, 3, 3, 4, 5])
        m, d = 0, day
        while d > months[m]:
            d -= months[m]
            m = min(m + 1, 11)
        out.append(f"2024-{m + 1:02d}-{d:02d}")
    return out


# ----------------------------------------------------------------------------- 1. vacuum manual

VACUUM_SAFETY = [
    "Read all instructions before using the vacuum and keep this manual for future reference.",
    "Use the vacuum only as described in this manual and only with attachments recommended by the manufacturer.",
    "Do not use the vacuum outdoors or on wet surfaces, and never pick up water or other liquids.",
    "Do not let children use the vacuum as a toy. Close supervision is necessary when it is used near children or pets.",
    "Do not pick up anything that is burning or smoking, such as cigarettes, matches or hot ashes.",
    "Do not pick up flammable or combustible liquids such as petrol, or use the vacuum where they may be present.",
    "Keep hair, loose clothing, fingers and all parts of the body away from openings and moving parts, in particular the brush roll.",
    "Do not use the vacuum with any opening blocked; keep openings free of dust, lint, hair and anything that may reduce airflow.",
    "Do not use the vacuum without the dust bin and both filters in place.",
    "Charge the battery only with the charger supplied. A charger suitable for one type of battery may create a risk of fire when used with another battery.",
    "Do not charge the battery at temperatures below 5 °C or above 35 °C.",
    "Do not use a battery or appliance that is damaged or modified. Damaged batteries may behave unpredictably, resulting in fire, explosion or risk of injury.",
    "Do not expose the battery or the vacuum to fire or to temperatures above 60 °C.",
    "Under abusive conditions liquid may be ejected from the battery; avoid contact. If contact accidentally occurs, flush with water. If liquid contacts eyes, additionally seek medical help.",
    "Do not handle the charger, including the plug and terminals, with wet hands.",
    "Do not pull or carry the charger by its cord, use the cord as a handle, close a door on the cord, or pull the cord around sharp edges or corners.",
    "Unplug the charger from the outlet when it is not in use for a long period and before cleaning it.",
    "Switch the vacuum off before connecting or disconnecting the wand, the floor head or any attachment.",
    "Take extra care when cleaning stairs. Do not stand the vacuum on a step above you.",
    "Do not use the vacuum to pick up fine construction dust such as plaster, cement or sanding dust; it will clog the filters and may damage the motor.",
    "Store the vacuum indoors in a dry place. Do not store it in direct sunlight or in a car.",
    "Have servicing performed by an authorised service centre using only identical replacement parts.",
    "Dispose of the battery according to local regulations. Do not put it in household waste.",
    "This appliance is not intended for use by persons with reduced physical, sensory or mental capabilities, or lack of experience and knowledge, unless they have been given supervision or instruction.",
]
VACUUM_BOX = [
    "Main body with motor, cyclone and 0.6 L dust bin",
    "Removable 25.2 V lithium-ion battery pack (2,500 mAh)",
    "Aluminium extension wand",
    "Motorised floor head with anti-tangle brush roll",
    "Soft roller head for hard floors (S9 Plus only)",
    "Crevice tool",
    "2-in-1 dusting brush",
    "Mini motorised tool for upholstery and pet hair",
    "Wall dock with screws and wall plugs",
    "Charger (input 100-240 V, output 30 V DC, 1 A)",
    "Spare post-motor HEPA filter",
    "Cleaning tool for the brush roll",
]
VACUUM_SPECS = [
    ["Model", "AeroClean S9 / S9 Plus"],
    ["Battery", "25.2 V Li-ion, 2,500 mAh, removable"],
    ["Runtime (ECO, non-motorised tool)", "up to 60 min"],
    ["Runtime (AUTO, floor head)", "up to 38 min"],
    ["Runtime (MAX)", "up to 9 min"],
    ["Charging time", "about 4 h 30 min from empty"],
    ["Suction power", "ECO 30 AW, AUTO 65-150 AW, MAX 210 AW"],
    ["Dust bin capacity", "0.6 L"],
    ["Filtration", "washable pre-filter + post-motor HEPA, 99.97% at 0.3 µm"],
    ["Noise level", "68 dB(A) in ECO, 81 dB(A) in MAX"],
    ["Weight", "1.6 kg (handheld), 2.7 kg with wand and floor head"],
    ["Charger", "input 100-240 V ~ 50/60 Hz 0.6 A, output 30 V DC 1 A"],
    ["Operating temperature", "5-35 °C"],
    ["Dimensions (assembled)", "250 × 260 × 1,150 mm"],
]
VACUUM_TROUBLE = [
    [
        "The vacuum does not start",
        "Battery empty, or battery not fully seated",
        "Charge the battery; push it in until it clicks",
    ],
    [
        "The vacuum stops after a few seconds",
        "Airflow blocked; the motor protection switches off",
        "Check the wand, floor head and bin inlet for blockages; wash the pre-filter",
    ],
    [
        "The vacuum pulses on and off",
        "Filter clogged or blockage in the airway",
        "Clean both filters and clear the airway, then let the filters dry 24 h",
    ],
    [
        "Suction is weak",
        "Bin full, filter dirty, or hose cracked",
        "Empty the bin above the MAX line; clean filters; check the wand seals",
    ],
    [
        "The brush roll does not turn",
        "Hair or threads wrapped around it, or the head is not fully connected",
        "Switch off, remove the brush roll, cut away hair, refit until it clicks",
    ],
    [
        "The brush roll stops on thick rugs",
        "Overload protection on deep pile",
        "Switch to ECO or lift the head slightly; this protects the motor",
    ],
    [
        "Battery light flashes red",
        "Battery too hot or too cold",
        "Let the battery reach room temperature (5-35 °C) before charging",
    ],
    [
        "Battery does not charge",
        "Charger not plugged in, dock contacts dirty",
        "Check the outlet; wipe the contacts with a dry cloth",
    ],
    [
        "Runtime much shorter than before",
        "Battery ageing, or MAX mode used often",
        "Use AUTO for most floors; replace the battery after about 400 full cycles",
    ],
    [
        "Dust escapes from the bin",
        "Bin seal dirty or not closed",
        "Wipe the rubber seal; close the bin until it clicks",
    ],
    [
        "Unusual smell",
        "Filters damp or dirty; something burnt picked up",
        "Wash and fully dry the filters; never vacuum hot ash",
    ],
    [
        "Loud whistling noise",
        "Partial blockage or an attachment not fully pushed on",
        "Find and remove the blockage; reseat the attachment",
    ],
    [
        "The floor head pushes debris forward",
        "Large debris, or the front wheels are jammed",
        "Pick up large items by hand; clean the wheels",
    ],
    [
        "The display shows nothing",
        "Battery completely drained or display fault",
        "Charge for 30 minutes; if still blank, contact service",
    ],
    ["The vacuum is hot to touch", "Long use in MAX mode", "Switch off and let it cool for 30 minutes"],
    [
        "Marks on hard floors",
        "Dirty or worn soft roller",
        "Wash the soft roller and let it dry; replace if worn",
    ],
    [
        "Wall dock does not charge the vacuum",
        "Charger cable not pushed into the dock",
        "Push the charger plug fully into the dock socket",
    ],
    [
        "The trigger must be held down",
        "Trigger mode selected",
        "Press the lock button on the handle to switch to continuous mode",
    ],
]
VACUUM_CODES = [
    ["E-01", "Motor overheated", "Switch off, let it cool 30 min, clear blockages"],
    ["E-02", "Brush roll jammed", "Remove the brush roll and clear hair and threads"],
    ["E-03", "Battery temperature out of range", "Bring the battery to 5-35 °C"],
    ["E-04", "Battery fault", "Refit the battery; if E-04 returns, replace it"],
    ["E-05", "Blockage detected", "Check bin inlet, wand and floor head"],
    ["E-06", "Floor head not connected", "Push the floor head onto the wand until it clicks"],
    ["E-07", "Filter missing", "Refit the pre-filter and the HEPA filter"],
    ["E-08", "Charger voltage wrong", "Use only the supplied charger"],
    [
        "E-09",
        "Communication fault between head and body",
        "Clean the metal contacts at both ends of the wand",
    ],
    ["E-10", "Firmware error", "Remove and refit the battery; contact service if it persists"],
    ["E-11", "Dust sensor dirty", "Wipe the sensor window inside the bin inlet"],
    ["E-12", "Trigger switch fault", "Contact service"],
]
VACUUM_FAQ = [
    (
        "Can I leave the vacuum on the dock all the time?",
        "Yes. The battery management system stops charging when the battery is full and tops it up only when it has dropped below 95%. Leaving it on the dock does not damage the battery.",
    ),
    (
        "Why does the suction change by itself in AUTO mode?",
        "In AUTO the dust sensor in the bin inlet counts particles. When it detects a lot of fine dust, for example along skirting boards or on a rug, the motor speeds up; when the floor is clean it slows down to save battery. The bar on the display shows the current level.",
    ),
    (
        "Can I wash the HEPA filter?",
        "Yes, rinse it under cold tap water only, without detergent, until the water runs clear. Shake it gently and let it dry for at least 24 hours before refitting. Never dry it in a tumble dryer, microwave or near a heater.",
    ),
    (
        "How often should I replace the filters?",
        "With normal household use the washable filters last about two years. Replace them sooner if they are torn, deformed or stay discoloured after washing.",
    ),
    (
        "Can I buy a second battery?",
        "Yes. The battery is removable and a second battery doubles the runtime. It charges in the wall dock or directly through the charger socket on the battery.",
    ),
    (
        "Is the vacuum suitable for pet hair?",
        "Yes. Use the mini motorised tool on sofas, beds and car seats. The anti-tangle brush roll in the floor head has a comb that strips long hair off the bristles while you clean, but very long hair may still wrap around the ends and should be removed weekly.",
    ),
    (
        "Can I use the vacuum on wool rugs?",
        "Yes, in ECO or AUTO. On rugs with long fringes, lift the floor head before reaching the fringe to avoid pulling it into the brush roll.",
    ),
    (
        "Why is the runtime shorter than the figure in the specifications?",
        "The runtimes are measured with a new, fully charged battery at 20 °C. Motorised tools, MAX mode, cold rooms and an older battery all reduce runtime. See Appendix A for real measurements.",
    ),
    (
        "The bin is full of fine grey dust although the floor looked clean. Is that normal?",
        "Yes. The cyclone separates very fine dust that is hard to see on the floor. This is one of the reasons for emptying the bin after every use.",
    ),
    (
        "Can I vacuum up glitter or sand?",
        "Yes, small amounts are fine. Empty the bin straight away and tap the pre-filter over a bin, because fine particles reduce the airflow quickly.",
    ),
    (
        "Does the vacuum work on stairs?",
        "Yes. Remove the wand and fit the 2-in-1 dusting brush or the mini motorised tool directly to the main body. Always stand below the step you are cleaning.",
    ),
    (
        "How do I update the firmware?",
        "The S9 has no app. Firmware updates are installed by authorised service centres when the vacuum is serviced. Most owners never need one.",
    ),
    (
        "What does the small blue light on the battery mean?",
        "It shows that the battery is charging. It switches off when the battery is full. A red light means the battery is too hot or too cold to charge.",
    ),
    (
        "Can I use the vacuum while it is charging?",
        "No. For safety the motor does not run while the charger is connected.",
    ),
]


def vacuum_runtime_log(rng: random.Random) -> str:
    """Appendix A: a generated runtime test log (mode, tool, floor, room temperature, minutes)."""
    modes = [("ECO", 52, 61), ("AUTO", 30, 40), ("MAX", 7, 10)]
    tools = ["floor head", "soft roller", "crevice tool", "mini motorised tool", "dusting brush"]
    floors = ["oak boards", "tiles", "low-pile carpet", "wool rug", "vinyl", "stairs (carpet)", "sofa"]
    notes = [
        "no issues",
        "bin emptied at half time",
        "pre-filter tapped clean before the run",
        "battery warm at the end",
        "hair wrapped around the brush roll ends",
        "E-02 once, cleared in 1 min",
        "AUTO went to max on the rug",
        "room window open, 14 °C",
        "new HEPA filter fitted",
        "second battery used",
        "dock charged overnight",
        "dust sensor wiped",
    ]
    rows = []
    dates = day_dates(rng, 64)
    for i, date in enumerate(dates):
        mode, lo, hi = rng.choice(modes)
        cycle = 3 + i * 6
        fade = 1 - min(cycle, 400) * 0.0004
        minutes = round(rng.uniform(lo, hi) * fade, 1)
        temp = round(rng.uniform(15.5, 24.5), 1)
        start = rng.choice([100, 100, 100, 95, 90, 85])
        end = rng.choice([0, 0, 0, 5, 10])
        rows.append(
            [
                f"{i + 1:03d}",
                date,
                mode,
                rng.choice(tools),
                rng.choice(floors),
                f"{temp} °C",
                f"{start}% → {end}%",
                f"{minutes} min",
                f"cycle {cycle}",
                rng.choice(notes),
            ]
        )
    return table(
        ["Run", "Date", "Mode", "Tool", "Floor", "Room", "Battery", "Runtime", "Cycles", "Notes"], rows
    )


def vacuum_manual(rng: random.Random) -> tuple[str, str]:
    title = "AeroClean S9 Cordless Stick Vacuum — Owner's Manual"
    sections = [
        (
            "Introduction",
            [
                "Thank you for choosing the AeroClean S9. This manual explains how to assemble, charge, use and look after your cordless stick vacuum. Please read it completely before the first use, paying particular attention to the safety instructions, and keep it somewhere you can find it again. If you pass the vacuum on to someone else, give them this manual too.",
                "The S9 is designed for everyday cleaning of hard floors, carpets, rugs, stairs, upholstery and the inside of cars. It converts into a handheld vacuum in a few seconds, and its removable battery means you can keep a spare charged for larger homes. The S9 Plus adds a soft roller head for hard floors and a second battery.",
                "Symbols used in this manual: WARNING marks a hazard that could cause serious injury; CAUTION marks a hazard that could damage the vacuum or your property; NOTE marks useful advice.",
            ],
        ),
        (
            "Important safety instructions",
            [
                "WARNING: When using an electrical appliance, basic precautions should always be followed, including the following. Failure to follow them may result in fire, electric shock or injury.",
                numbered(VACUUM_SAFETY),
                "SAVE THESE INSTRUCTIONS. This appliance is intended for household use only.",
            ],
        ),
        (
            "What's in the box",
            [
                "Check that the following parts are in the box. If anything is missing or damaged, do not use the vacuum; contact the retailer or our customer service team.",
                bullets(VACUUM_BOX),
            ],
        ),
        ("Specifications", [table(["Item", "Value"], VACUUM_SPECS)]),
        (
            "Getting to know your vacuum",
            [
                "The main body holds the motor, the cyclone, the dust bin and the display. The handle has a single trigger; pressing the lock button beside it switches between trigger mode, where the vacuum runs only while you hold the trigger, and continuous mode, where one press starts it and another stops it. Many owners prefer trigger mode because it saves battery in the short pauses between rooms.",
                "The display on the back of the main body shows the selected mode, the remaining runtime in minutes, the current suction level in AUTO mode and any error code. The mode button below the display cycles through ECO, AUTO and MAX. The vacuum always starts in the mode it was last used in.",
                "The dust bin is transparent so you can see when it needs emptying. Air enters the bin through the inlet at the front, spins in the cyclone, and leaves through the mesh shroud, the washable pre-filter, the motor and finally the post-motor HEPA filter at the back of the main body.",
                "The motorised floor head has LED lights at the front that show up dust on dark floors, swivels for getting around furniture, and lies almost flat so it reaches under beds and sofas. Its brush roll combines stiff nylon bristles for carpets with soft carbon fibre strips for fine dust on hard floors.",
            ],
        ),
        (
            "Assembly",
            [
                numbered(
                    [
                        "Unpack all parts and remove any protective film and cable ties.",
                        "Slide the battery into the bottom of the handle until it clicks. The first time, charge it fully before use (see Charging the battery).",
                        "Push the wand onto the inlet of the main body until it clicks. Pull gently to check it is locked.",
                        "Push the floor head onto the lower end of the wand until it clicks. The contacts in the wand connect the head to the battery, so make sure the connection is firm.",
                        "To remove the wand or an attachment, press the red release button and pull.",
                        "Choose a place for the wall dock near a power outlet, with the top of the dock about 1.2 m above the floor. Make sure there are no pipes or cables in the wall where you drill.",
                        "Mark the two holes using the dock as a template, drill 6 mm holes, insert the wall plugs and screw the dock to the wall.",
                        "Plug the charger into the socket at the bottom of the dock and route the cable through the clip. Hang the vacuum on the dock; the battery light turns blue when charging starts.",
                    ]
                ),
                "NOTE: If you prefer not to mount the dock on a wall, the charger can be plugged directly into the socket on the battery, with the battery either in the vacuum or removed.",
            ],
        ),
        (
            "Charging the battery",
            [
                "A full charge takes about four and a half hours from empty. The battery light is blue while charging and switches off when the battery is full. The display shows the remaining runtime for the selected mode as soon as you switch on.",
                "Lithium-ion batteries do not have a memory effect, so you can charge at any time, whether the battery is nearly empty or half full. For the longest battery life, avoid leaving the battery completely empty for long periods. If you will not use the vacuum for more than a month, charge the battery to about half and store it in a cool, dry place.",
                "The battery will not charge if it is too hot or too cold. If you have just used MAX mode for a long time, wait about thirty minutes before charging. In winter, do not charge the vacuum in an unheated garage or car.",
                "CAUTION: Use only the supplied charger. Using another charger can damage the battery and will void the warranty.",
                "Battery life: after about 400 full charge cycles the battery still holds at least 70% of its original capacity. Most households charge between three and five times a week, so the battery typically lasts two to three years before the runtime becomes noticeably shorter. Replacement batteries are available from our service centres.",
            ],
        ),
        (
            "Using the vacuum",
            [
                "Press the trigger to start the vacuum. In trigger mode release it to stop; in continuous mode press it again. Use the mode button to change mode while cleaning.",
                "ECO mode uses the lowest suction and gives the longest runtime. It is ideal for hard floors, for daily touch-ups and for delicate surfaces such as curtains. AUTO mode adjusts suction automatically using the dust sensor and is the best choice for mixed floors. MAX mode gives full suction for deep cleaning of carpets and for stubborn dirt, but drains the battery in under ten minutes, so use it in short bursts.",
                "For hard floors, the soft roller head (S9 Plus) picks up large debris such as cereal and fine dust at the same time and is quieter than the motorised floor head. For carpets and rugs use the motorised floor head. On deep pile carpets you may feel the head pull forward; this is normal and shows that the brush roll is working.",
                "Attachments: the crevice tool reaches into corners, along skirting boards and between sofa cushions. The 2-in-1 dusting brush has a soft brush for shelves, lampshades and keyboards; slide the brush back to use the wide nozzle for upholstery. The mini motorised tool has its own small brush roll and is the best tool for pet hair on sofas, beds, stairs and car seats.",
                "To use the vacuum as a handheld, press the release button and remove the wand, then fit an attachment directly to the inlet of the main body. Attachments can also be fitted to the end of the wand to reach high places such as ceiling corners and the tops of cupboards.",
                "NOTE: The vacuum switches itself off if the airflow is blocked, to protect the motor. Clear the blockage and switch on again.",
            ],
        ),
        (
            "Emptying the dust bin",
            [
                "Empty the bin after each use, or as soon as the dirt reaches the MAX line. A full bin reduces suction and can push dust back into the filter.",
                numbered(
                    [
                        "Switch the vacuum off and remove the wand or attachment.",
                        "Hold the main body over a rubbish bin with the inlet pointing down.",
                        "Push the red bin release lever firmly upwards. The bin base opens and the dirt falls out; the lever also pushes the shroud through the bin to wipe off hair and dust.",
                        "Close the bin base until it clicks.",
                    ]
                ),
                "To empty the bin with less dust, put a plastic bag over the main body before you open it. The bin can be removed and rinsed in cold water every few weeks; dry it completely for 24 hours before refitting.",
            ],
        ),
        (
            "Cleaning the filters",
            [
                "Clean the washable pre-filter at least once a month, and more often if you vacuum fine dust, pet hair or sand. Clean the post-motor HEPA filter every three months.",
                numbered(
                    [
                        "Pull the pre-filter out of the top of the cyclone.",
                        "Tap it over a bin to remove loose dust.",
                        "Rinse it under cold running water, without detergent, squeezing gently, until the water runs clear.",
                        "Shake off the water and leave the filter to dry in a warm place, out of direct sunlight, for at least 24 hours.",
                        "Turn the HEPA cover at the back of the main body anticlockwise and remove the HEPA filter. Rinse it the same way, with the pleats facing down.",
                        "Refit both filters only when they are completely dry.",
                    ]
                ),
                "CAUTION: Never use the vacuum without its filters or with wet filters; dust or water could enter the motor. We recommend keeping the spare HEPA filter from the box so you can keep cleaning while the other one dries.",
            ],
        ),
        (
            "Cleaning the brush roll",
            [
                "Hair, threads and carpet fibres can wrap around the brush roll and reduce its performance. Check it once a week, especially if you have long-haired people or pets at home.",
                numbered(
                    [
                        "Switch off and remove the floor head from the wand.",
                        "Turn the floor head over and slide the brush roll lock on the side to the unlock position.",
                        "Pull the brush roll out of the head.",
                        "Use the cleaning tool or scissors to cut away hair and threads, taking care not to cut the bristles.",
                        "Remove the end caps and clear any hair wound around the bearings.",
                        "Slide the brush roll back in and turn the lock until it clicks.",
                    ]
                ),
                "The soft roller can be rinsed under cold water. Let it dry standing on its end for 24 hours before refitting.",
            ],
        ),
        (
            "Storage",
            [
                "Store the vacuum on its wall dock, or lying flat, indoors in a dry room between 5 and 35 °C. Keep it out of direct sunlight. If the vacuum is stored for a long time, charge the battery to about half every three months.",
            ],
        ),
        (
            "Troubleshooting",
            [
                "Before contacting service, check the table below. Always switch the vacuum off and remove the battery before checking for blockages or cleaning the brush roll.",
                table(["Problem", "Possible cause", "What to do"], VACUUM_TROUBLE),
            ],
        ),
        (
            "Error codes",
            [
                "If a fault occurs the vacuum stops and the display shows an error code. Remove the cause and switch on again. If the code reappears, contact customer service and tell them the code.",
                table(["Code", "Meaning", "What to do"], VACUUM_CODES),
            ],
        ),
        ("Frequently asked questions", [f"**{q}** {a}" for q, a in VACUUM_FAQ]),
        (
            "Warranty",
            [
                "The AeroClean S9 comes with a two-year warranty from the date of purchase covering defects in materials and workmanship. The battery is covered for two years or 400 charge cycles, whichever comes first. Keep your receipt as proof of purchase.",
                "The warranty does not cover normal wear and tear, such as worn brush rolls, filters and seals; damage caused by accidents, misuse, neglect, or use contrary to this manual; use with non-original parts or chargers; commercial use; or repairs carried out by anyone other than an authorised service centre.",
                "To make a claim, contact customer service with your model number, serial number (on the label under the dust bin) and proof of purchase. We will repair or replace the faulty part, or the vacuum, at our discretion. Your statutory rights are not affected.",
            ],
        ),
        (
            "Appendix A: runtime test log",
            [
                "The log below was recorded in our home test programme with one S9 over four months of everyday use. Runtimes are from 100% (or the stated start level) until the vacuum switched off, with the stated tool and floor. The slow decline over the cycles is normal battery ageing.",
                vacuum_runtime_log(rng),
            ],
        ),
        (
            "Appendix B: maintenance schedule",
            [
                table(
                    ["Task", "How often", "Time needed", "See section"],
                    [
                        ["Empty the dust bin", "after each use", "1 min", "Emptying the dust bin"],
                        ["Check the brush roll for hair", "weekly", "3 min", "Cleaning the brush roll"],
                        ["Wash the pre-filter", "monthly", "5 min + 24 h drying", "Cleaning the filters"],
                        [
                            "Wash the HEPA filter",
                            "every 3 months",
                            "5 min + 24 h drying",
                            "Cleaning the filters",
                        ],
                        [
                            "Rinse the dust bin",
                            "every 2-3 months",
                            "5 min + 24 h drying",
                            "Emptying the dust bin",
                        ],
                        ["Wipe the dust sensor window", "every 3 months", "1 min", "Error codes (E-11)"],
                        ["Clean the wand and head contacts", "every 6 months", "2 min", "Error codes (E-09)"],
                        ["Replace the filters", "about every 2 years", "2 min", "Frequently asked questions"],
                        ["Replace the battery", "after about 400 cycles", "1 min", "Charging the battery"],
                    ],
                )
            ],
        ),
    ]
    return title, render(title, sections)


# ----------------------------------------------------------------------------- 2. running shoes

RUN_NOTES = {
    "easy": [
        "Easy recovery miles on the canal path; the shoes disappeared on my feet, which is what you want on a day like this.",
        "Slow loop around the park with a friend. The heel felt a little soft on the downhill but nothing to complain about.",
        "Short shakeout run before work, legs heavy from yesterday. The rocker helped me keep a smooth stride.",
        "Easy run in drizzle. Grip on wet pavement was fine, but painted road markings were slippery.",
        "Forty minutes very easy, mostly on gravel. Small stones got stuck in the central groove twice.",
        "Recovery run after the long run. No soreness in the calves, which I used to get in flatter shoes.",
    ],
    "tempo": [
        "Tempo run, 3 x 2 miles at threshold. The foam felt responsive, though not as springy as a plated racer.",
        "Progression run finishing at half-marathon pace. The shoes felt more stable as the pace picked up.",
        "Track intervals, 8 x 400 m. Fine on the track, but I would not choose them for this session again; they feel a bit heavy at speed.",
        "Hill repeats. The toe spring helped on the climbs and the outsole bit well on the rough tarmac.",
        "Fartlek in the woods. Roots and mud were manageable, but this is a road shoe and it shows on wet clay.",
    ],
    "long": [
        "Long run, mostly flat. No hot spots at all, and my feet felt fresher at the end than in my old shoes.",
        "Long run with the last five miles at marathon pace. The cushioning held up; my legs gave out before the shoes did.",
        "Two-hour run on mixed surfaces. Slight rubbing on the left little toe in the last half hour; the toe box is snug for my wide-ish forefoot.",
        "Long run in 28 °C heat. The upper breathes well and my socks were only damp, not soaked.",
        "Longest run so far. A small blister under the arch after two hours, probably the socks rather than the shoes.",
    ],
}


def running_log(rng: random.Random) -> tuple[str, str]:
    """A week-by-week training log and a mileage table for the shoe review."""
    weeks, total, rows = [], 0.0, []
    for week in range(1, 27):
        runs = []
        miles = 0.0
        for kind in rng.sample(["easy", "easy", "tempo", "long"], rng.choice([2, 3, 3, 4])):
            dist = {"easy": rng.uniform(3, 6), "tempo": rng.uniform(5, 8), "long": rng.uniform(10, 18)}[kind]
            miles += dist
            runs.append((kind, round(dist, 1)))
        total += miles
        pace = f"{rng.randint(8, 9)}:{rng.randint(0, 59):02d}"
        rows.append(
            [str(week), str(len(runs)), f"{miles:.1f}", f"{total:.1f}", pace, f"{rng.randint(62, 78)}%"]
        )
        if week % 2 == 0 or week in (1, 3, 25):
            kind, dist = rng.choice(runs)
            weeks.append(
                f"Week {week} ({miles:.1f} mi, {total:.0f} mi total): {rng.choice(RUN_NOTES[kind])} ({dist} mi)"
            )
    mileage = table(["Week", "Runs", "Miles", "Total miles", "Avg pace /mi", "Cushion feel"], rows)
    return "\n\n".join(weeks), mileage


def shoe_review(rng: random.Random) -> tuple[str, str]:
    title = "Six Months in the Trailblazer 2: A Long-Term Running Shoe Review"
    log, mileage = running_log(rng)
    sections = [
        (
            "Why this review",
            [
                "Most shoe reviews are written after three or four runs. That is long enough to judge how a shoe fits and how it feels out of the box, but not long enough to know whether the foam goes flat at 200 miles, whether the outsole wears through at the toe, or whether the upper starts to rub once it has stretched. So I bought a pair of Trailblazer 2s with my own money in January and ran in nothing else for six months. This is what I learned.",
                "Some context, because it matters for any shoe review. I am a 41-year-old recreational runner, about 72 kg, running 25 to 35 miles a week with one half marathon and one marathon a year. I land on my midfoot on easy days and drift back to my heel when I get tired. My feet are average length and slightly wide at the forefoot, and I have worn everything from minimalist sandals to the tallest stack heights over the years.",
            ],
        ),
        (
            "The shoe on paper",
            [
                "The Trailblazer 2 is a daily trainer: a shoe meant to handle most of your mileage rather than race day. It has a 36 mm heel and 28 mm forefoot stack (an 8 mm drop), a single-density supercritical EVA midsole, a gentle rocker, a rubber outsole with a central groove, and an engineered mesh upper with a padded tongue and heel collar. My US 10 weighs 278 g on my kitchen scale, a little more than the 265 g the brand claims.",
                "It replaces the original Trailblazer, which was popular but had two common complaints: the foam felt dead after a couple of hundred miles, and the toe box was narrow. The brand says both have been fixed. One of them has.",
            ],
        ),
        (
            "Fit and sizing: order half a size up",
            [
                "This is the most important part of the review, because the fit is where most people will go wrong. The Trailblazer 2 runs small. I wear a US 10 in almost every running shoe and my first pair, a 10, was short enough that my big toe touched the front on downhills after a week. I exchanged them for a 10.5 and the fit was right: a thumb's width in front of the big toe, a secure heel, no slipping.",
                "The toe box is better than the original's but still on the snug side. Runners with wide feet should look at the wide version, which is available in most sizes. The heel collar is well padded and the tongue is gusseted, so it stays in place. The laces are a little short if you use a runner's loop at the top eyelet.",
                "Looking at other owners' reviews, the same story comes up again and again: runs small, order half a size up, and if you are between sizes, go up a full size. I agree.",
            ],
        ),
        (
            "Cushioning and ride",
            [
                "Out of the box the midsole is soft but not mushy, with a lively rebound that makes easy miles feel easy. The rocker is subtle; you notice it mainly when you are tired, when it keeps your stride rolling instead of slapping. At faster paces the shoe feels stable and predictable, but it is not a speed shoe: there is no plate, and the weight is noticeable on the track.",
                "The big question with any new foam is how long it lasts. My notes say the cushioning felt noticeably firmer at about 250 miles and then stayed roughly the same up to 500. It never felt dead in the way the original did. The 'cushion feel' column in the mileage table is my own rough rating, out of 100, of how much of the original softness was left after each week.",
            ],
        ),
        (
            "Grip and outsole",
            [
                "The outsole rubber covers most of the bottom of the shoe, with small exposed foam windows in the midfoot to save weight. Grip on dry and wet tarmac is good. Painted road markings, wet wooden bridges and metal drain covers are slippery, as they are in most road shoes. On gravel, small stones occasionally get caught in the central groove and click on every step until you pick them out.",
                "After 500 miles the outsole is worn smooth at the outer heel and under the big toe, but there are no holes and the foam is not exposed. That is better than average for a daily trainer.",
            ],
        ),
        (
            "The training log",
            [
                "I kept a short note after most runs. Here is a selection, one or two per fortnight, with the week's mileage.",
                log,
            ],
        ),
        ("Mileage table", [mileage]),
        (
            "Durability after 500 miles",
            [
                "The upper has held up well: no holes at the big toe, no fraying at the heel collar, and the mesh has stretched just enough to make the toe box a little roomier than on day one. The insole has compressed and slides a few millimetres forward on long runs; a drop of glue fixed it. The midsole has a few creases on the medial side but no cracks.",
                "The only real failure was a lace eyelet on the right shoe, which tore at about 420 miles. It is cosmetic, because there are two more eyelets above it, but it should not happen on a shoe at this price.",
            ],
        ),
        (
            "Compared with other shoes",
            [
                "Compared with the original Trailblazer, the 2 is softer, bouncier and much more durable, but slightly heavier. Compared with other daily trainers in the same price range it is among the most comfortable for long runs, but not the most versatile; if you want one shoe for everything including intervals, a lighter trainer with a firmer foam may suit you better.",
            ],
        ),
        (
            "Verdict",
            [
                "The Trailblazer 2 is a comfortable, durable daily trainer that made my easy and long runs more pleasant for six months and 500 miles. It is not fast, the toe box is snug, and it runs small, so order half a size up. With the right size, it is one of the best shoes I have put real mileage on in the last few years, and I have already bought a second pair to rotate with the first.",
                "Rating: 4 out of 5. Loses a point for the sizing and the torn eyelet.",
            ],
        ),
    ]
    return title, render(title, sections)


# ----------------------------------------------------------------------------- 3. espresso machine

SHOT_NOTES = [
    "sour, underextracted; grind finer",
    "bitter finish; grind coarser",
    "balanced, sweet, good crema",
    "channelling visible, redistribute before tamping",
    "fast shot, puck wet and soupy",
    "choked the machine, almost no flow",
    "good body, slightly flat; beans 3 weeks old",
    "great with milk, too strong straight",
    "new bag of beans, started 2 steps finer",
    "after descaling, temperature more stable",
    "tamped harder, no real difference",
    "pre-infusion on, much more even extraction",
]


def espresso_log(rng: random.Random) -> str:
    rows = []
    for i, date in enumerate(day_dates(rng, 40, start_day=60)):
        dose = round(rng.uniform(17.5, 18.5), 1)
        ratio = rng.uniform(1.7, 2.6)
        seconds = rng.randint(18, 38)
        rows.append(
            [
                str(i + 1),
                date,
                rng.choice(
                    ["Brazil Cerrado", "Ethiopia Guji", "House blend", "Colombia Huila", "Decaf Swiss Water"]
                ),
                str(rng.randint(6, 14)),
                f"{dose} g",
                f"{dose * ratio:.1f} g",
                f"{seconds} s",
                f"{rng.randint(91, 95)} °C",
                rng.choice(SHOT_NOTES),
            ]
        )
    return table(["#", "Date", "Beans", "Grind", "Dose", "Yield", "Time", "Temp", "Notes"], rows)


def espresso_guide(rng: random.Random) -> tuple[str, str]:
    title = "BaristaPro 450 Espresso Machine — Quick Start and Care Guide"
    sections = [
        (
            "Before you start",
            [
                "The BaristaPro 450 is a single-boiler espresso machine with a built-in conical burr grinder, a 58 mm portafilter, adjustable pre-infusion, a PID temperature controller and a steam wand. It can make excellent espresso and milk drinks at home, but, like every espresso machine, it needs a few shots of practice before the results are consistently good. This guide takes you from the box to your first good flat white, and then explains how to keep the machine working well for years.",
                "WARNING: The group head, the portafilter, the steam wand and the hot water outlet become very hot. Steam and hot water can cause burns. Never remove the portafilter while water is flowing, never point the steam wand at anyone, and keep children away from the machine while it is in use. Always place the machine on a stable, heat-resistant surface, at least 10 cm from the wall.",
            ],
        ),
        (
            "First use",
            [
                numbered(
                    [
                        "Remove all packaging, including the tape on the bean hopper lid and the plastic plug under the drip tray.",
                        "Wash the water tank, portafilter, baskets and milk jug in warm soapy water and rinse well.",
                        "Fill the water tank with fresh, cold, filtered water up to the MAX line and slide it into place at the back.",
                        "Plug the machine in and press the power button. The lights flash while the boiler heats up; this takes about 40 seconds.",
                        "Without beans or a portafilter, press the two-cup button and let water run through the group head until it stops. Repeat three times to flush the system.",
                        "Open the steam dial for 10 seconds, then close it. Put a cup under the hot water outlet and run hot water for 10 seconds.",
                        "Fill the hopper with fresh whole beans, ideally roasted within the last four weeks. Do not use oily, flavoured or caramelised beans; they clog the grinder.",
                    ]
                ),
            ],
        ),
        (
            "Dialling in your first shot",
            [
                "Espresso is about ratio and time. A good starting point is 18 g of ground coffee in the double basket, giving about 36 g of espresso in the cup in 25 to 30 seconds, counting from when you press the button. Weigh your shots with a small kitchen scale; it is the single most useful accessory you can buy.",
                "Set the grind size dial to 8 to start with. Lock the portafilter into the grinder cradle and push it in to start grinding. Level the coffee with your finger, tamp firmly and evenly with the supplied tamper until the coffee is compressed flat, and lock the portafilter into the group head. Place a warm cup on the scale under it and press the two-cup button.",
                "Taste the shot. If it ran fast (under 20 seconds) and tastes sour or thin, grind finer, two steps at a time. If it ran slow (over 35 seconds), or tastes bitter and harsh, grind coarser. Change only one thing at a time, and make a note of what you changed. Most beans end up somewhere between 5 and 12 on the dial. Lighter roasts usually need a finer grind and a slightly higher temperature; dark roasts a coarser grind and a lower temperature.",
                "Pre-infusion gently wets the coffee at low pressure for a few seconds before the full 9 bar is applied. It reduces channelling, where water finds a weak spot in the puck and rushes through it. The default of 5 seconds works for most coffees; increase it to 8 for very fine grinds and light roasts.",
            ],
        ),
        (
            "Steaming milk",
            [
                "Fill the jug with cold milk to just below the spout. Purge the steam wand into the drip tray for two seconds to clear condensed water. Put the tip of the wand just below the surface of the milk, slightly off centre, and open the steam dial fully.",
                "For the first few seconds keep the tip near the surface so it draws in air with a gentle tearing sound; this makes the foam. When the jug feels warm, lower the tip slightly so the milk spins in a whirlpool and the bubbles become fine and glossy. Stop when the jug is too hot to hold comfortably, around 60 to 65 °C. Hotter milk tastes flat and cooked.",
                "Close the steam dial before lifting the wand out of the milk. Wipe the wand immediately with a damp cloth and purge it again for a second. Dried milk inside the wand is the most common reason for weak steam.",
                "Oat and other plant milks work well if you choose a barista version, which contains a little added fat and protein so it foams. Steam them to a slightly lower temperature than dairy milk.",
            ],
        ),
        (
            "Drink recipes",
            [
                table(
                    ["Drink", "Coffee", "Milk", "Cup"],
                    [
                        ["Espresso", "18 g in, 36 g out", "none", "60-90 ml"],
                        ["Ristretto", "18 g in, 25 g out", "none", "60 ml"],
                        ["Americano", "18 g in, 36 g out", "add 120 ml hot water", "240 ml"],
                        ["Cortado", "18 g in, 36 g out", "about 40 ml, little foam", "120 ml"],
                        ["Flat white", "18 g in, 36 g out", "about 110 ml, thin foam", "160-180 ml"],
                        ["Cappuccino", "18 g in, 36 g out", "about 120 ml, 1-2 cm foam", "180 ml"],
                        ["Latte", "18 g in, 36 g out", "about 200 ml, thin foam", "280-300 ml"],
                    ],
                ),
            ],
        ),
        (
            "Daily and weekly care",
            [
                "After each session: knock out the used coffee puck, rinse the portafilter and basket, run water through the group head for a few seconds, wipe the shower screen, and wipe and purge the steam wand. Empty the drip tray when the red float appears.",
                "Weekly: remove the shower screen with a screwdriver and scrub it and the group gasket with the cleaning brush. Wash the drip tray and the water tank. Check the grinder chute for clumps of old coffee and clear them with the brush.",
                "Every 200 shots, or when the CLEAN light comes on, backflush the machine with a cleaning tablet: put the blind disc in the single basket, place the tablet on it, lock the portafilter in, and hold the one-cup and two-cup buttons together for five seconds. The machine runs a five-minute cleaning cycle. Then rinse the portafilter and run two shots of plain water.",
            ],
        ),
        (
            "Descaling",
            [
                "Limescale builds up in the boiler and pipes and slowly reduces temperature stability and flow. How often you need to descale depends on your water hardness: every two months with hard water, every four to six months with soft or filtered water. The machine lights the DESCALE symbol when it is due, based on the water hardness setting you choose in the menu.",
                numbered(
                    [
                        "Empty the water tank and fill it to the 1 L mark with water and one sachet of descaler. Do not use vinegar; it damages the seals and leaves a taste.",
                        "Remove the portafilter and put a large bowl under the group head and another under the steam wand.",
                        "Hold the power and two-cup buttons together for three seconds. The descale programme starts.",
                        "The machine alternates between the group head, the hot water outlet and the steam wand. Open the steam dial when the steam light flashes.",
                        "When the tank is empty, rinse it, fill it with fresh water, and press the two-cup button to rinse the system. The programme ends after about 25 minutes.",
                    ]
                ),
            ],
        ),
        (
            "Troubleshooting",
            [
                table(
                    ["Problem", "Likely cause", "Solution"],
                    [
                        [
                            "No water flows through the group head",
                            "Water tank empty or not seated",
                            "Fill and push the tank fully into place",
                        ],
                        [
                            "Coffee runs too fast",
                            "Grind too coarse, too little coffee, weak tamp",
                            "Grind finer, dose 18 g, tamp evenly",
                        ],
                        [
                            "Coffee drips or does not flow",
                            "Grind too fine or basket overfilled",
                            "Grind coarser, dose less",
                        ],
                        [
                            "Coffee is not hot enough",
                            "Cups cold, machine not warmed up",
                            "Warm the cups, wait 10 minutes after switching on",
                        ],
                        [
                            "Coffee tastes bitter",
                            "Overextracted, or machine needs cleaning",
                            "Grind coarser; backflush",
                        ],
                        [
                            "Coffee tastes sour",
                            "Underextracted or beans too fresh",
                            "Grind finer; rest beans 5 days after roasting",
                        ],
                        [
                            "Water leaks around the portafilter",
                            "Coffee on the gasket or gasket worn",
                            "Wipe the gasket; replace it once a year",
                        ],
                        [
                            "Weak or no steam",
                            "Wand tip blocked with milk",
                            "Soak the tip in hot water and clear it with the pin",
                        ],
                        [
                            "Grinder runs but no coffee comes out",
                            "Hopper empty or beans stuck",
                            "Refill; stir beans; clear the chute",
                        ],
                        [
                            "Grinder makes a loud noise",
                            "A stone or foreign object in the burrs",
                            "Unplug, empty the hopper, remove the upper burr",
                        ],
                        [
                            "Lights flash alternately",
                            "Boiler overheated or sensor fault",
                            "Switch off for 30 minutes; contact service if it repeats",
                        ],
                    ],
                ),
            ],
        ),
        (
            "Appendix: our dialling-in log",
            [
                "For reference, here are forty shots from our test kitchen over a few weeks, with several different coffees. The grind numbers only make sense on this machine, and even two machines of the same model can differ by a step or two, so treat them as a rough guide rather than a recipe.",
                espresso_log(rng),
            ],
        ),
    ]
    return title, render(title, sections)


# ----------------------------------------------------------------------------- 4. garden bed guide

CROPS = [
    (
        "Tomatoes",
        "Mar-Apr (indoors)",
        "after last frost",
        "Jul-Sep",
        "60 cm",
        "basil, marigold",
        "fennel, potatoes",
    ),
    (
        "Peppers",
        "Feb-Mar (indoors)",
        "2 weeks after last frost",
        "Aug-Oct",
        "45 cm",
        "basil, onions",
        "fennel",
    ),
    ("Lettuce", "Mar-Aug", "Apr-Aug", "May-Oct", "25 cm", "carrots, radish", "parsley"),
    ("Carrots", "Apr-Jul (direct)", "-", "Jul-Nov", "5 cm", "onions, leeks, chives", "dill"),
    ("Radishes", "Mar-Sep (direct)", "-", "Apr-Oct", "3 cm", "lettuce, peas", "hyssop"),
    ("Bush beans", "May-Jul (direct)", "-", "Jul-Sep", "15 cm", "carrots, cucumber", "onions, garlic"),
    ("Peas", "Mar-May (direct)", "-", "Jun-Jul", "8 cm", "carrots, radish", "onions"),
    (
        "Courgettes",
        "Apr-May (indoors)",
        "after last frost",
        "Jul-Oct",
        "90 cm",
        "nasturtium, beans",
        "potatoes",
    ),
    ("Spinach", "Mar-May, Aug-Sep", "-", "May-Jun, Oct-Nov", "10 cm", "strawberries, peas", "potatoes"),
    ("Onions (sets)", "-", "Mar-Apr", "Jul-Aug", "10 cm", "carrots, beetroot", "beans, peas"),
    ("Beetroot", "Apr-Jul (direct)", "-", "Jun-Oct", "10 cm", "onions, lettuce", "runner beans"),
    ("Basil", "Apr (indoors)", "Jun", "Jul-Sep", "20 cm", "tomatoes, peppers", "rue"),
    ("Strawberries", "-", "Apr or Sep", "Jun-Jul", "30 cm", "spinach, borage", "cabbages"),
    ("Kale", "Apr-May", "Jun-Jul", "Sep-Feb", "45 cm", "onions, beetroot", "strawberries"),
]
PESTS = [
    [
        "Slugs and snails",
        "Ragged holes in leaves, slime trails",
        "Beer traps, copper tape on the bed edges, night-time patrols with a torch",
    ],
    [
        "Aphids",
        "Clusters of small green or black insects on shoots",
        "Spray off with water; encourage ladybirds; plant marigolds nearby",
    ],
    [
        "Cabbage white caterpillars",
        "Leaves eaten down to the veins",
        "Cover brassicas with fine netting from spring",
    ],
    [
        "Carrot fly",
        "Rusty tunnels in roots",
        "Sow thinly, cover with fleece, or grow in the raised bed (the fly stays low)",
    ],
    [
        "Powdery mildew",
        "White powder on courgette and pea leaves",
        "Water the soil not the leaves; remove affected leaves; space plants",
    ],
    [
        "Blight",
        "Brown patches on tomato leaves and stems in wet summers",
        "Remove affected leaves at once; water at the base; grow resistant varieties",
    ],
    ["Birds", "Seedlings pulled up, peas eaten", "Net the bed until plants are established"],
    [
        "Vine weevil",
        "Notches in leaf edges, wilting plants with grubs at the roots",
        "Nematodes in spring and autumn",
    ],
]
GARDEN_NOTES = [
    "sowed two rows of radishes and one of lettuce",
    "first radishes ready, peppery and crisp",
    "planted out tomatoes and basil, fleece on overnight",
    "slug damage on the lettuce, set two beer traps",
    "watered deeply, soil dry 5 cm down",
    "side-shooted the tomatoes and tied them in",
    "first courgette, then six in a week",
    "peas finished, pulled them and sowed beetroot",
    "aphids on the beans, hosed them off",
    "harvested the first ripe tomatoes",
    "topped up the bed with 2 bags of compost",
    "mulched with straw to keep moisture in",
    "blight spots on one tomato, removed the leaves",
    "picked 1.2 kg of beans",
    "sowed spinach for autumn",
    "cleared the courgettes, sowed green manure",
]


def garden_log(rng: random.Random) -> str:
    rows = []
    for date in day_dates(rng, 36, start_day=75):
        rows.append(
            [
                date,
                f"{rng.randint(9, 29)} °C",
                f"{rng.choice([0, 0, 0, 1, 2, 4, 7, 12])} mm",
                f"{rng.choice([0, 0, 5, 10, 10, 15, 20])} L",
                rng.choice(GARDEN_NOTES),
            ]
        )
    return table(["Date", "Max temp", "Rain", "Watered", "Notes"], rows)


def garden_guide(rng: random.Random) -> tuple[str, str]:
    title = "Cedar Raised Garden Bed Kit — Assembly and First-Season Planting Guide"
    sections = [
        (
            "About this kit",
            [
                "This kit makes a raised bed 120 cm long, 90 cm wide and 28 cm deep from untreated western red cedar. Cedar is naturally resistant to rot and insects, so it does not need to be painted or treated, and it is safe for growing food. Left alone it weathers to a silvery grey; if you prefer the warm colour of new wood, oil the outside (never the inside) once a year with a food-safe linseed or tung oil.",
                "A raised bed warms up earlier in spring, drains well after heavy rain, keeps the soil loose because nobody walks on it, and is much kinder on backs and knees. It is also a very good way to start growing vegetables if your garden soil is heavy clay, full of stones, or simply unknown. This guide covers assembly, choosing a site, filling the bed, and a simple plan for your first season.",
            ],
        ),
        (
            "Parts and tools",
            [
                bullets(
                    [
                        "4 long side boards (120 cm) and 4 short end boards (90 cm), each 14 cm high",
                        "4 corner posts, 38 cm long, with pre-drilled holes",
                        "32 stainless steel screws (5 × 50 mm)",
                        "1 roll of breathable weed membrane (130 × 100 cm)",
                        "Optional: 2 cross braces for the middle of the long sides (in the XL kit only)",
                    ]
                ),
                "You will need a cordless drill or screwdriver with a PZ2 bit, a spirit level, a tape measure, a spade, a rake and a staple gun or a few garden pegs for the membrane. Assembly takes two people about 30 to 45 minutes.",
            ],
        ),
        (
            "Choosing a site",
            [
                "Most vegetables need at least six hours of direct sun a day, and tomatoes, peppers and courgettes do best with eight or more. Watch how the sun moves across your garden for a day before you decide. Avoid spots under trees, which shade the bed and send roots into the rich soil, and low spots where frost and water collect.",
                "Make sure you can reach a tap or water butt easily, because a raised bed dries out faster than the ground in summer. Leave at least 45 cm around the bed for access; 60 cm if you want to get a wheelbarrow alongside. On a lawn, you do not need to dig the grass out: cut it short and lay thick cardboard on it before filling. The cardboard smothers the grass and rots away within a season.",
            ],
        ),
        (
            "Assembly",
            [
                numbered(
                    [
                        "Lay out the parts on a flat surface and check that nothing is missing. Boards are marked A (long sides) and B (ends) on the inside.",
                        "Stand two corner posts upright and hold a long board against them so the board's end is flush with the outside of the posts and its lower edge is 2 cm above the bottom of the posts.",
                        "Drive two screws through the pre-drilled holes into each post. Do not overtighten; cedar is soft and the screw heads should sit just flush with the surface.",
                        "Attach the second long board above the first in the same way, so you have one complete long side.",
                        "Build the second long side the same way.",
                        "Stand both long sides up, about 90 cm apart, and fix the end boards between them, bottom board first.",
                        "Move the frame to its final position. Check it with the spirit level on all four sides and dig out or pack soil under the posts until it is level. The extra 10 cm of the posts sits in the ground and keeps the bed from moving.",
                        "Lay the weed membrane or cardboard inside the bed and staple the membrane to the inside of the bottom boards.",
                    ]
                ),
                "NOTE: If the boards do not line up with the holes in a post, loosen all the screws on that side, square the frame by measuring the diagonals (they should be equal), and tighten the screws again.",
            ],
        ),
        (
            "Filling the bed",
            [
                "The bed holds about 300 litres of soil. Buying bagged topsoil and compost is the easiest way to fill it, but it is worth mixing rather than using one product. A good mix for vegetables is 60% screened topsoil, 30% peat-free compost or well-rotted manure, and 10% grit or perlite for drainage. Mix it well on a tarpaulin before shovelling it into the bed.",
                "To save money on a deeper bed you can fill the bottom third with woody prunings, logs and turf turned upside down, a method sometimes called hugelkultur. They rot slowly, feed the soil and hold water. Top them with at least 20 cm of the soil mix.",
                "Fill the bed to about 3 cm below the top, water it well, and leave it for a week before planting. The soil will settle by a few centimetres in the first month; top it up with compost. Every spring add a 3 to 5 cm layer of compost on the surface; there is no need to dig it in.",
            ],
        ),
        (
            "Planting calendar",
            [
                "The table below is for a temperate climate with the last frost in late April and the first frost in late October. Move the dates a few weeks earlier or later for your area. Spacing is the distance between plants in the bed; raised beds can be planted more densely than ordinary rows because you never walk on the soil.",
                table(
                    ["Crop", "Sow", "Plant out", "Harvest", "Spacing", "Good neighbours", "Keep apart from"],
                    [list(c) for c in CROPS],
                ),
            ],
        ),
        (
            "A simple first-season plan",
            [
                "Divide the bed into a grid of 30 cm squares: four along the length and three across gives twelve squares. At the back (the north side, so they do not shade the rest), plant two tomatoes supported by cages and a courgette at one end. In front of them, a square each of basil, peppers and bush beans. Along the front edge, where they are easy to reach, lettuce, radishes, carrots, spinach and beetroot, sown a little at a time every three weeks so they do not all come at once.",
                "When the peas and early lettuce finish in midsummer, resow those squares with beetroot, late carrots or kale for autumn. In October, clear spent plants, spread compost, and either plant garlic and onion sets for next summer or cover the bed with a green manure such as winter rye to protect the soil.",
            ],
        ),
        (
            "Watering and feeding",
            [
                "Water the soil, not the leaves, ideally in the early morning. A thorough soak twice a week is better than a sprinkle every day, because it encourages deep roots. Push a finger into the soil: if it is dry at the depth of your second knuckle, water. In a hot summer a full bed may need 20 litres a day. A layer of straw or grass clippings around the plants halves the evaporation.",
                "Fresh compost provides enough nutrients for leafy crops. Tomatoes, peppers and courgettes are hungry and benefit from a liquid tomato feed every week once the first fruits have set. Comfrey or nettle tea, made by soaking leaves in water for a few weeks, is a free alternative, if a smelly one.",
            ],
        ),
        (
            "Pests and problems",
            [
                table(["Pest or problem", "Signs", "What to do"], PESTS),
            ],
        ),
        (
            "Care of the bed",
            [
                "Cedar lasts ten years or more in the ground. Check the screws every spring and tighten any that have loosened as the wood moved. If a board cracks, replacement boards are available separately. Never use creosote or other wood preservatives on the bed; they can leach into the soil and your vegetables.",
            ],
        ),
        (
            "Appendix: our first-season diary",
            [
                "We set up a test bed in a London garden and kept a short diary from March to October. Watering is what we added on top of the rain.",
                garden_log(rng),
            ],
        ),
    ]
    return title, render(title, sections)


# ----------------------------------------------------------------------------- 5. headphones review


def headphone_battery(rng: random.Random) -> str:
    rows = []
    for mode in [
        "ANC on, 50% volume",
        "ANC on, 70% volume",
        "Transparency, 50%",
        "ANC off, 50% volume",
        "ANC on, calls only",
    ]:
        for codec in ["AAC", "SBC", "LDAC"]:
            if codec == "LDAC" and "calls" in mode:
                continue
            base = {"AAC": 31, "SBC": 33, "LDAC": 22}[codec]
            if "70%" in mode:
                base -= 4
            if "off" in mode:
                base += 12
            if "calls" in mode:
                base = 18
            rows.append([mode, codec, f"{base + rng.uniform(-1.5, 1.5):.1f} h", f"{rng.randint(20, 23)} °C"])
    return table(["Mode", "Codec", "Measured runtime", "Room"], rows)


HEADPHONE_DAYS = [
    "Train delayed 40 minutes next to a group of football fans. With ANC on high I could still hear the singing, but quietly enough to read.",
    "First flight with them, 3 hours. Engine drone gone; the crying baby two rows back was reduced but not silenced. Battery went from 100% to 88%.",
    "Rain all day. The ear cups kept my ears warm on the platform and the touch controls worked with damp fingers.",
    "Forgot to charge them for a week. They still had 14% left, and ten minutes on my laptop's USB-C port got me home.",
    "Two hours of video calls from a café. People heard the coffee machine in the background, so I switched to the laptop microphone.",
    "Long-haul flight, 9 hours. Comfortable the whole way; I took them off twice to stretch. 71% left on landing.",
    "Hot day, 29 °C. My ears were sweaty after 45 minutes and I switched to earbuds for the walk home.",
    "The creak in the right hinge started today. Only noticeable when I chew.",
    "Bus with a loud diesel engine. The low rumble vanished completely; the squealing brakes did not.",
    "Left them in the office over the weekend, switched on. Auto-off worked and they had 60% on Monday.",
    "Firmware update 1.4 installed in 6 minutes. Transparency mode sounds more natural now.",
    "Listened to a whole album wired on an old plane entertainment system. No hiss, no interference.",
    "Walked along the seafront in a strong wind. No rumbling from the ANC, which my old headphones always had.",
    "Fell asleep on the train with them on. Woke up with a slightly sore ear but no other complaints.",
]


def headphone_diary(rng: random.Random) -> str:
    days = rng.sample(HEADPHONE_DAYS, 12)
    out = []
    for day, note in zip(sorted(rng.sample(range(2, 92), 12)), days, strict=True):
        out.append(f"- Day {day} ({rng.randint(25, 95)} min): {note}")
    return "\n".join(out)


def headphone_review(rng: random.Random) -> tuple[str, str]:
    title = "Living with the Voltix ANC 700: Three Months of Commutes, Flights and Calls"
    sections = [
        (
            "Introduction",
            [
                "Noise-cancelling headphones have become the thing people buy before a long trip, and there are now a dozen good pairs between the cheap and the very expensive. The Voltix ANC 700 sits in the middle: about half the price of the best-known flagships, with a spec sheet that promises almost everything they do. I used a pair as my only headphones for three months, on a daily train commute, four flights and more video calls than I would like to admit. Here is how they held up.",
            ],
        ),
        (
            "Design and comfort",
            [
                "The ANC 700 are over-ear headphones with a matte plastic shell, aluminium sliders and protein-leather ear pads. They fold flat and come with a hard zip case that is slimmer than most. At 254 g they are light for this class, and the clamping force is moderate: secure enough for a brisk walk, loose enough that I wore them for a nine-hour flight without the headache I get from tighter pairs. People with glasses may feel some pressure at the temples after a couple of hours.",
                "The ear pads are soft and deep enough that my ears do not touch the drivers, but they get warm in summer. After three months the pads show no cracking, and replacement pads are cheap and clip on without tools. The headband padding is thinner than it looks and I could feel the top of it on long days.",
                "Controls are a mix of buttons and touch. Power and ANC modes have physical buttons, which I prefer, while volume and track skipping are swipes on the right ear cup. The swipes work reliably, though in winter the headphones sometimes registered my hood brushing against them as a pause.",
            ],
        ),
        (
            "Noise cancelling",
            [
                "The noise cancelling is the main reason to buy these, and it is very good. The low rumble of train wheels and aircraft engines almost disappears. Voices and clattering cutlery in a café are reduced but still audible, as they are with every headphone I have tried. Compared directly with a flagship pair on the same train, the Voltix let through a little more of the higher-pitched noise, but the difference was small enough that I stopped noticing it after a few days.",
                "There is a faint hiss in quiet rooms when ANC is on and nothing is playing, which you only hear if you listen for it. The transparency mode is natural enough to have a short conversation without taking the headphones off, though your own voice sounds slightly boomy. Wind noise is handled well; on a windy platform the ANC did not produce the rumbling some headphones suffer from.",
            ],
        ),
        (
            "Sound quality",
            [
                "Out of the box the sound is warm, with a bass boost that makes pop and electronic music fun but can make acoustic recordings sound a little thick. The app's five-band equaliser fixes that: lowering the 60 Hz and 150 Hz bands by two steps gave me a more balanced sound I was happy with for everything. Detail in the treble is good without being harsh, and the stereo image is wide for closed headphones.",
                "They support AAC and SBC, and LDAC on Android phones. Honestly, on a train with ANC on, I could not hear the difference between AAC and LDAC, and LDAC costs about a third of the battery life. With the supplied cable they also work wired, with or without ANC, which is useful on planes with old entertainment systems.",
            ],
        ),
        (
            "Battery life",
            [
                "Voltix claims 30 hours with ANC on. My measurements, playing a mixed playlist from full to automatic power-off, are in the table below. The claim holds with AAC at moderate volume; louder listening and LDAC cut it noticeably. Ten minutes of charging through USB-C gives about five hours, which saved me once at an airport gate.",
                headphone_battery(rng),
            ],
        ),
        (
            "Calls and microphones",
            [
                "Call quality is fine in quiet rooms and mediocre outside. Colleagues said I sounded clear at my desk, but on a busy street the noise reduction made my voice sound compressed and occasionally cut off the start of words. For the odd call on the move they are acceptable; if you take many calls outdoors, earbuds with microphones closer to the mouth do better.",
                "Multipoint works well: I kept the headphones connected to my laptop and phone at the same time, and they switched to the phone when a call came in without my doing anything.",
            ],
        ),
        (
            "The app",
            [
                "The app is simple and does not require an account, which is refreshing. It has the equaliser, ANC level, a setting for the auto-pause when you take the headphones off, and firmware updates. One update in the second month improved the transparency mode noticeably. The auto-pause sensor was occasionally confused when I rested the headphones around my neck, so I turned it off.",
            ],
        ),
        (
            "Problems",
            [
                "Two problems are worth mentioning. First, in the third week the left ear cup developed a faint crackle at high volume. A firmware reset fixed it and it has not returned. Second, the hinge on the right side started to creak after about two months. It is only noticeable when chewing or moving the jaw, but it is annoying in a quiet room. A drop of silicone grease helped. Neither problem is serious, but they make me wonder how the headphones will look after two years.",
            ],
        ),
        (
            "A commuter's diary",
            [
                "I kept short notes on the days something happened worth writing down. The times are door to door.",
                headphone_diary(rng),
            ],
        ),
        (
            "Compared with earbuds",
            [
                "I also own a pair of good noise-cancelling earbuds, and the question I was asked most often was which to buy. The honest answer is both, for different days. The ANC 700 cancel low-frequency noise better, sound fuller, last three times as long and are more comfortable for hours at a time. The earbuds fit in a pocket, do not mess up your hair, are much better in hot weather and at the gym, and handle calls on a windy street better because their microphones sit closer to your mouth.",
                "If you can only have one and you travel a lot, take the headphones. If most of your listening is on foot, on a bike or at the gym, the earbuds make more sense, and you can still take them on a plane.",
            ],
        ),
        (
            "Who should buy them",
            [
                "Buy the ANC 700 if you commute by train or bus, fly more than a few times a year, or work in a noisy open-plan office, and you want most of the flagship experience without paying for the brand. Look elsewhere if you take a lot of calls outdoors, if you need headphones for running or the gym, or if you have a large head: the sliders have plenty of room, but the clamping force increases noticeably at the longest setting.",
            ],
        ),
        (
            "Verdict",
            [
                "The Voltix ANC 700 offer most of what the flagships do at half the price: very good noise cancelling, comfortable fit for long trips, a sound you can tune to your taste, and battery life that meets its claim. Calls outdoors, the slightly thin headband padding and a couple of small build-quality worries keep them from being perfect. For commuters and frequent flyers on a budget, they are easy to recommend.",
                "Rating: 4 out of 5.",
            ],
        ),
    ]
    return title, render(title, sections)


# ----------------------------------------------------------------------------- 6. board game rules


def castle_quest_rules(rng: random.Random) -> tuple[str, str]:
    title = "Castle Quest — Complete Rules and Strategy Guide"
    card_rows = [
        ["Knight", "8", "Move 2, attack 3", "Can defend an adjacent ally"],
        ["Archer", "8", "Move 1, attack 2 at range 2", "Cannot attack an adjacent enemy"],
        ["Builder", "6", "Move 1, build 1 wall", "Walls block movement and arrows"],
        ["Scout", "6", "Move 3", "Reveals one face-down treasure tile"],
        ["Healer", "4", "Move 1, heal 2", "Cannot heal herself"],
        ["Dragon", "2", "Move 4, attack 5", "Loses 2 health at the end of each turn it attacks"],
        ["Trickster", "4", "Swap two units", "Cannot swap a Dragon"],
        ["Storm", "2", "Event", "All units on open ground lose 1 health"],
    ]
    sections = [
        (
            "Overview",
            [
                "Castle Quest is a board game of building, exploring and gentle conflict for 2 to 4 players aged 8 and up. Each player leads a small band of knights, archers, builders and scouts across a kingdom of hexagonal tiles, looking for treasure and trying to build the strongest castle before the last tile is turned over. A game takes 45 to 60 minutes. It is simple enough for children to learn in one game, with enough choices to keep adults interested.",
            ],
        ),
        (
            "Components",
            [
                bullets(
                    [
                        "1 folding board showing the kingdom, with 37 hexagonal spaces",
                        "48 treasure tiles (gold, gems, relics and 6 traps)",
                        "40 unit cards (see the card table below)",
                        "4 castle boards, one per player, and 60 wooden wall pieces in four colours",
                        "16 wooden unit figures and 24 health tokens",
                        "1 first-player crown and this rule book",
                    ]
                ),
                table(["Card", "Number", "Action", "Special rule"], card_rows),
            ],
        ),
        (
            "Setup",
            [
                numbered(
                    [
                        "Unfold the board in the middle of the table. Shuffle the treasure tiles and place one face down on every space except the four corner castles and the central lake.",
                        "Each player chooses a colour and takes the castle board, the 15 walls and the 4 unit figures of that colour. Place your castle board in front of you and your figures on your corner castle.",
                        "Shuffle the unit cards and deal five to each player. Place the rest face down as a draw pile.",
                        "The youngest player takes the first-player crown.",
                    ]
                ),
            ],
        ),
        (
            "How to play",
            [
                "Players take turns in clockwise order, starting with the player who has the crown. On your turn you must play one card from your hand and may then take one free action. At the end of your turn draw back up to five cards. When the draw pile runs out, shuffle the discards to make a new one.",
                "Playing a card lets one of your figures perform the action on it. A Knight card lets one of your figures move up to two spaces and then attack an enemy figure next to it; a Scout card lets a figure move up to three spaces and then secretly look at any one face-down treasure tile; and so on. You may always play a card just to move one space instead of its normal action.",
                "Free actions are: collect the treasure tile on the space where one of your figures stands (turn it face up and put it on your castle board), or build one wall on your castle board by paying two gold from your treasure. A trap tile must be revealed when collected: the figure that collected it loses two health and returns to your castle.",
            ],
        ),
        (
            "An example first round",
            [
                "Three players, Ana (red), Ben (blue) and Chloe (green), are playing their first game. Ana is the youngest, so she takes the crown and goes first.",
                "Ana's hand is Knight, Scout, Builder, Builder, Archer. There is nothing to attack yet, so she plays the Scout card: her scout figure moves three spaces towards the middle of the board and she secretly looks at the treasure tile two spaces ahead of it. It is a relic. She does not collect it yet, because her scout is not on that space, but she now knows where she wants to go. She has no gold, so she cannot build, and her free action is wasted. She draws one card to get back to five.",
                "Ben plays a Knight card to move his knight two spaces. Because his knight ended its move on a tile, he uses his free action to collect it: two gold, which he places on his castle board. He draws a card.",
                "Chloe has drawn the Dragon, which is tempting, but nobody is close enough to attack. She plays a Builder card instead; the builder action lets her place one wall without paying, which is worth two points at the end and protects all her figures in combat. Her free action is to collect the tile under her builder: a trap. The builder loses two health and goes back to her castle. Everyone laughs, and the round is over.",
                "In round two, Ana's scout reaches the relic and collects it with her free action. Ben, who noticed how carefully Ana was walking towards that corner, is already regretting not playing his own Scout.",
            ],
        ),
        (
            "Notes on the cards",
            [
                "Knight: the backbone of your band. A Knight that defends an adjacent ally takes the damage instead of it, but still benefits from your walls. Archer: the only unit that can attack without being next to its target, which makes Archers the best way to stop an opponent's Scout before it reaches a relic. Builder: builds one wall for free; remember that walls on your castle board also count as the end-of-game trigger. Scout: moves fast and gathers information; a Scout with a good memory is worth more than a Knight. Healer: heals two health on any figure within two spaces, including figures in other players' castles, which occasionally makes for interesting deals. Dragon: powerful and self-destructive. Trickster: the most confusing card for new players, and the most fun once you understand it. Storm: an event, not a unit; it affects every player, including the one who plays it.",
            ],
        ),
        (
            "Combat",
            [
                "Each figure has three health, shown by tokens under it. When you attack, the defending figure loses health equal to the attack value on the card, minus one for every wall that player has built on their castle board (walls represent the strength of the kingdom at home). A figure with no health left returns to its owner's castle with full health, and the attacker may steal one treasure tile from that player's castle board, but not a relic.",
                "There is no combat on the central lake, and figures in their own castle cannot be attacked. These safe spaces keep the game friendly for younger players; experienced groups can agree to ignore them.",
            ],
        ),
        (
            "End of the game and scoring",
            [
                "The game ends at the end of the round in which the last treasure tile is collected, or immediately when a player has built all 15 walls. Players then score: 1 point per gold, 3 points per gem, 5 points per relic, 2 points per wall, and 4 points for each complete set of one gold, one gem and one relic. The player with the most points wins. In a tie, the tied player with more walls wins; if still tied, they share the victory.",
            ],
        ),
        (
            "Variants",
            [
                "Family variant: leave the Dragon and Storm cards in the box and remove the trap tiles. The game becomes a race to collect and build, with very little conflict, and suits players from age 6.",
                "Expert variant: players start with only three cards and draw three at the end of their turn, but may discard any number of cards before drawing. Relics are worth 7 points. The game rewards planning ahead and becomes noticeably more tactical.",
                "Two-player variant: use only half of the board (the spaces marked with a small tower) and remove 16 treasure tiles at random before setup. Play with the expert rules for a tight, quick game of about 30 minutes.",
            ],
        ),
        (
            "Strategy tips",
            [
                "Scouts are more powerful than they look. Knowing where the relics are lets you plan several turns ahead, and your opponents will not know why you are heading for an unremarkable corner of the board. Builders are the quiet winners of most games: every wall is worth two points and makes all your figures harder to hurt. Do not spend all your gold on walls early, though; a player with a full castle and no treasure will lose to a player who collected a few sets.",
                "Dragons are exciting but expensive. A Dragon can win a fight in one blow, but it loses health every turn it attacks, so use it for one decisive strike rather than a rampage. Keep a Healer card in your hand when your opponents still have Dragons to play.",
            ],
        ),
        (
            "Frequently asked questions",
            [
                "**Can two figures share a space?** Yes, any number of figures, of any colour, may share a space. Only one figure can collect the treasure tile there.",
                "**Can I attack a figure on a space I cannot enter?** No. Archers may shoot over other figures but not over walls or the lake.",
                "**What happens if the draw pile and discards both run out?** Continue playing with the cards in hand. If nobody can play a card, the game ends immediately.",
                "**Can the Trickster swap my own figure with an enemy figure?** Yes. This is a good way to rescue a figure surrounded by enemies, or to place an enemy next to your Knight.",
                "**Does a Storm affect figures in castles or on the lake?** No, only figures on open ground.",
                "**Can I collect a treasure tile without playing a card that moves?** Yes. If one of your figures already stands on a face-down tile, you may play any card for its action and then collect the tile as your free action.",
                "**Do walls protect against a Storm?** No. Walls only reduce damage from attacks.",
                "**Is there a hand limit?** Yes, five cards in the standard game and three in the expert variant. Discard down to the limit at the end of your turn if a card effect gave you extra cards.",
            ],
        ),
    ]
    return title, render(title, sections)


# ============================================================================= writing


def make_long_docs(rng: random.Random) -> list[dict[str, object]]:
    makers = [vacuum_manual, shoe_review, espresso_guide, garden_guide, headphone_review, castle_quest_rules]
    return [
        {"doc_id": i, "title": title, "text": text}
        for i, (title, text) in enumerate((m(rng) for m in makers), 1)
    ]


def write_csv(path: Path, rows: list[dict[str, object]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row[c] is None else row[c] for c in columns})


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    reviews = make_reviews(rng)
    docs = make_long_docs(random.Random(SEED + 1))
    write_csv(out_dir / "reviews.csv", reviews, ["review_id", "product", "category", "stars", "text"])
    write_csv(out_dir / "long_docs.csv", docs, ["doc_id", "title", "text"])
    texts = [r["text"] for r in reviews if isinstance(r["text"], str) and r["text"].strip()]
    print(f"reviews.csv: {len(reviews)} rows, {len(set(texts))} distinct non-blank texts")
    for d in docs:
        words = len(re.findall(r"\w+", str(d["text"])))
        print(f"long_docs.csv: doc {d['doc_id']}: {words:,} words — {d['title']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
