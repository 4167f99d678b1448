"""The seeded world behind the test web: countries, cities, sites, people, photos and where each copy is published.

Everything here is plain data drawn from ``random.Random(seed)`` and ``numpy.random.default_rng(seed)`` only, so the
same seed always gives the same world. Pixels and bytes are made elsewhere (:mod:`audit.testbed.testweb.images`), pages
in :mod:`audit.testbed.testweb.pages`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

import numpy as np

from audit.testbed.testweb.graphics import Graphics, plan_graphics
from audit.testbed.testweb.realphotos import RealPhoto

logger = logging.getLogger(__name__)

# --- Metadata base rates -------------------------------------------------------------------------------------------
# Imatag (2018, study of ~40 million images published on the web): about 85% of web images carry no metadata at all.
# The per-site-kind rates below are tuned so that the served images of a default build land near that figure.
WEB_IMAGES_WITHOUT_METADATA = 0.85
# Major social platforms (Facebook, Instagram, Twitter/X) strip EXIF, including GPS, from uploaded photos.
SOCIAL_KEEPS_METADATA = 0.0
# Flickr keeps the EXIF of the original file a user uploads (its resized display copies do not carry it).
PHOTO_SHARING_ORIGINAL_KEEPS_METADATA = 1.0
# assumption: share of news-site display copies whose CMS keeps the agency's IPTC/XMP/EXIF when resizing.
NEWS_KEEPS_METADATA = 0.12
# assumption: share of blog images whose pipeline (e.g. Imagick rather than GD in WordPress) keeps EXIF.
BLOG_KEEPS_METADATA = 0.25
# assumption: share of forum attachments served as uploaded, metadata included.
FORUM_KEEPS_METADATA = 0.35
# assumption: share of aggregator re-posts that keep any metadata of their source.
AGGREGATOR_KEEPS_METADATA = 0.05
# assumption: when a site keeps metadata, share that still removes GPS (privacy plugins, CMS options).
KEEPER_DROPS_GPS = 0.3
# assumption: share of phone photos with location tagging on (GPS in EXIF).
PHONE_GPS = 0.6
# assumption: share of phone photos carrying OffsetTimeOriginal (written by iOS and recent Android cameras).
PHONE_OFFSET_TIME = 0.9
# assumption: the same for dedicated cameras (only recent bodies write it) and for GPS on cameras.
CAMERA_OFFSET_TIME = 0.4
CAMERA_GPS = 0.05
# assumption: agency/news photos carry IPTC IIM and XMP location fields (captioning workflows fill them in).
AGENCY_IPTC = 0.9
AGENCY_XMP = 0.9
# assumption: share of a subject's photos taken outside their country of residence.
CAPTURED_ABROAD = 0.15
# assumption: share of photos re-posted elsewhere (aggregators, social shares, forums) and hot-linked as is.
REPOST_RATE = 0.22
HOTLINK_RATE = 0.06
# Captions that exercise the hard cases of places named in text (issue 15): a share of the photos is captioned with
# one of them instead of "{subject} in {city}". Drawn from a random generator of their own, so that the rest of the
# world (people, photos, copies, pages) is the same with or without them.
HARD_CAPTIONS = 0.12
# Each hard case: (its name, the caption, the country of the place it names or None when it names none). {s} is the
# subject. Names that are words, brands, people or foods name no place; "flight to Rome" names a destination.
HARD_NONE = (
    ("stop:nice", "Nice day out with {s}", None), ("stop:reading", "Reading in the sun with {s}", None),
    ("stop:bath", "Bath time for {s}", None), ("stop:mobile", "Mobile snap of {s}", None),
    ("brand:jordan", "{s} in new Jordan sneakers", None), ("person:paris-hilton", "{s} dressed as Paris Hilton", None),
    ("food:french-fries", "French fries with {s}", None), ("thing:swiss-army-knife", "{s}'s Swiss army knife", None),
    ("brand:peugeot", "{s} and the old Peugeot", None), ("destination:rome", "{s} before the flight to Rome", "IT"),
)
# Cases that name a place in one country only: used for photos taken there, so the caption tells the truth.
HARD_PLACED: dict[str, tuple[tuple[str, str], ...]] = {
    "US": (("qualified:paris-tx", "{s} in Paris, TX"), ("state:georgia", "{s} in Atlanta, Georgia")),
    "GB": (("qualified:perth-scotland", "{s} in Perth, Scotland"),),
    "CA": (("qualified:london-ontario", "{s} in London, Ontario"),),
    "FR": (("valence", "{s} à Valence"),),
    "ES": (("valencia", "{s} en Valencia"),),
}
# "{s} <in> {c}" in the publishing site's own language
LOCATIVE_CAPTION = {"fr": "{s} à {c}", "de": "{s} in {c}", "it": "{s} a {c}", "es": "{s} en {c}", "nl": "{s} in {c}",
                    "en": "{s} in {c}"}
# Real photos (the labelled face set of the shared corpora, audit.testbed.testweb.realphotos): this share of the
# photos, drawn from a random generator of their own, is a real photo instead of a synthetic colour field, each file
# of the set used at most once per world (so a larger world has the same real photos, a smaller one fewer).
REAL_PHOTO_RATE = 0.3
# assumption: share of photo-sharing uploads whose owner lets anyone download the original file.
PHOTO_SHARING_ORIGINAL_PUBLIC = 0.5
# assumption: share of blog images linked to their full-size file.
BLOG_FULL_SIZE_LINK = 0.25

MAX_DISPLAY_WIDTH = 1200
ORIGINAL_QUALITY = 90
DISPLAY_QUALITY = 85
RECOMPRESS_QUALITY = 70  # "recompress" means re-encoded at this lower quality

TRANSFORMS = ("resize", "recompress", "crop", "mirror", "watermark", "strip_metadata", "format_png", "format_webp")
METADATA_KINDS = ("exif", "gps", "offset_time", "make_model", "iptc_location", "xmp_location")


@dataclass(frozen=True, slots=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    alpha3: str  # ISO 3166-1 alpha-3, as IPTC IIM 2:100 wants
    name: str
    weight: float  # share of photo subjects living there (assumption: France largest, the demo audits France)
    neighbours: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class City:
    name: str
    region: str
    country: str
    lat: float
    lon: float
    tz: str
    exact: bool = False  # within ~10 km of a border or on a coast/lake: no jitter


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country("FR", "FRA", "France", 0.30, ("BE", "CH", "DE", "IT", "ES")),
        Country("DE", "DEU", "Germany", 0.09, ("FR", "NL", "BE", "CH")),
        Country("IT", "ITA", "Italy", 0.08, ("FR", "CH")),
        Country("GB", "GBR", "United Kingdom", 0.10, ("FR", "ES", "NL")),
        Country("BE", "BEL", "Belgium", 0.07, ("FR", "NL", "DE")),
        Country("CH", "CHE", "Switzerland", 0.06, ("FR", "DE", "IT")),
        Country("CA", "CAN", "Canada", 0.08, ("US", "FR")),
        Country("ES", "ESP", "Spain", 0.08, ("FR", "PT", "IT")),
        Country("NL", "NLD", "Netherlands", 0.06, ("BE", "DE", "FR")),
        Country("US", "USA", "United States", 0.08, ("CA", "FR", "IT")),
        Country("PT", "PRT", "Portugal", 0.0, ("ES",)),
    )
}

# Real city centres (WGS84, ~0.001 deg). Border, coast and lake cities are marked exact (no jitter).
CITIES: tuple[City, ...] = (
    City("Paris", "Île-de-France", "FR", 48.8566, 2.3522, "Europe/Paris"),
    City("Lyon", "Auvergne-Rhône-Alpes", "FR", 45.7640, 4.8357, "Europe/Paris"),
    City("Toulouse", "Occitanie", "FR", 43.6047, 1.4442, "Europe/Paris"),
    City("Bordeaux", "Nouvelle-Aquitaine", "FR", 44.8378, -0.5792, "Europe/Paris"),
    City("Nantes", "Pays de la Loire", "FR", 47.2184, -1.5536, "Europe/Paris"),
    City("Rennes", "Bretagne", "FR", 48.1173, -1.6778, "Europe/Paris"),
    City("Marseille", "Provence-Alpes-Côte d'Azur", "FR", 43.2965, 5.3698, "Europe/Paris", True),
    City("Strasbourg", "Grand Est", "FR", 48.5734, 7.7521, "Europe/Paris", True),
    City("Lille", "Hauts-de-France", "FR", 50.6292, 3.0573, "Europe/Paris", True),
    City("Annecy", "Auvergne-Rhône-Alpes", "FR", 45.8992, 6.1294, "Europe/Paris", True),
    City("Berlin", "Berlin", "DE", 52.5200, 13.4050, "Europe/Berlin"),
    City("Munich", "Bayern", "DE", 48.1351, 11.5820, "Europe/Berlin"),
    City("Hamburg", "Hamburg", "DE", 53.5511, 9.9937, "Europe/Berlin"),
    City("Cologne", "Nordrhein-Westfalen", "DE", 50.9375, 6.9603, "Europe/Berlin"),
    City("Frankfurt am Main", "Hessen", "DE", 50.1109, 8.6821, "Europe/Berlin"),
    City("Aachen", "Nordrhein-Westfalen", "DE", 50.7753, 6.0839, "Europe/Berlin", True),
    City("Kehl", "Baden-Württemberg", "DE", 48.5727, 7.8150, "Europe/Berlin", True),
    City("Rome", "Lazio", "IT", 41.9028, 12.4964, "Europe/Rome"),
    City("Milan", "Lombardia", "IT", 45.4642, 9.1900, "Europe/Rome"),
    City("Turin", "Piemonte", "IT", 45.0703, 7.6869, "Europe/Rome"),
    City("Florence", "Toscana", "IT", 43.7696, 11.2558, "Europe/Rome"),
    City("Bologna", "Emilia-Romagna", "IT", 44.4949, 11.3426, "Europe/Rome"),
    City("Como", "Lombardia", "IT", 45.8081, 9.0852, "Europe/Rome", True),
    City("London", "England", "GB", 51.5074, -0.1278, "Europe/London"),
    City("Manchester", "England", "GB", 53.4808, -2.2426, "Europe/London"),
    City("Birmingham", "England", "GB", 52.4862, -1.8904, "Europe/London"),
    City("Edinburgh", "Scotland", "GB", 55.9533, -3.1883, "Europe/London", True),
    City("Bristol", "England", "GB", 51.4545, -2.5879, "Europe/London"),
    City("Brussels", "Bruxelles-Capitale", "BE", 50.8503, 4.3517, "Europe/Brussels"),
    City("Liège", "Wallonie", "BE", 50.6326, 5.5797, "Europe/Brussels"),
    City("Namur", "Wallonie", "BE", 50.4674, 4.8718, "Europe/Brussels"),
    City("Ghent", "Vlaanderen", "BE", 51.0543, 3.7174, "Europe/Brussels"),
    City("Antwerp", "Vlaanderen", "BE", 51.2194, 4.4025, "Europe/Brussels"),
    City("Baarle-Hertog", "Vlaanderen", "BE", 51.4360, 4.9305, "Europe/Brussels", True),
    City("Zurich", "Zürich", "CH", 47.3769, 8.5417, "Europe/Zurich", True),
    City("Geneva", "Genève", "CH", 46.2044, 6.1432, "Europe/Zurich", True),
    City("Basel", "Basel-Stadt", "CH", 47.5596, 7.5886, "Europe/Zurich", True),
    City("Bern", "Bern", "CH", 46.9480, 7.4474, "Europe/Zurich"),
    City("Lausanne", "Vaud", "CH", 46.5197, 6.6323, "Europe/Zurich", True),
    City("Montreal", "Québec", "CA", 45.5017, -73.5673, "America/Toronto"),
    City("Quebec City", "Québec", "CA", 46.8139, -71.2080, "America/Toronto"),
    City("Toronto", "Ontario", "CA", 43.6532, -79.3832, "America/Toronto", True),
    City("Ottawa", "Ontario", "CA", 45.4215, -75.6972, "America/Toronto"),
    City("Calgary", "Alberta", "CA", 51.0447, -114.0719, "America/Edmonton"),
    City("Vancouver", "British Columbia", "CA", 49.2827, -123.1207, "America/Vancouver", True),
    City("Madrid", "Comunidad de Madrid", "ES", 40.4168, -3.7038, "Europe/Madrid"),
    City("Seville", "Andalucía", "ES", 37.3891, -5.9845, "Europe/Madrid"),
    City("Granada", "Andalucía", "ES", 37.1773, -3.5986, "Europe/Madrid"),
    City("Bilbao", "País Vasco", "ES", 43.2630, -2.9350, "Europe/Madrid"),
    City("Barcelona", "Cataluña", "ES", 41.3851, 2.1734, "Europe/Madrid", True),
    City("Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041, "Europe/Amsterdam"),
    City("Rotterdam", "Zuid-Holland", "NL", 51.9244, 4.4777, "Europe/Amsterdam"),
    City("Utrecht", "Utrecht", "NL", 52.0907, 5.1214, "Europe/Amsterdam"),
    City("Eindhoven", "Noord-Brabant", "NL", 51.4416, 5.4697, "Europe/Amsterdam"),
    City("Maastricht", "Limburg", "NL", 50.8514, 5.6910, "Europe/Amsterdam", True),
    City("Chicago", "Illinois", "US", 41.8781, -87.6298, "America/Chicago", True),
    City("Austin", "Texas", "US", 30.2672, -97.7431, "America/Chicago"),
    City("Denver", "Colorado", "US", 39.7392, -104.9903, "America/Denver"),
    City("New York", "New York", "US", 40.7128, -74.0060, "America/New_York", True),
    City("Lisbon", "Lisboa", "PT", 38.7223, -9.1393, "Europe/Lisbon", True),
    City("Porto", "Porto", "PT", 41.1579, -8.6291, "Europe/Lisbon", True),
)

FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "FR": ("Camille", "Léa", "Hugo", "Louis", "Chloé", "Théo", "Manon", "Nathan"),
    "DE": ("Anna", "Lukas", "Lena", "Jonas", "Mia", "Felix"),
    "IT": ("Giulia", "Marco", "Sofia", "Luca", "Chiara", "Matteo"),
    "GB": ("Oliver", "Amelia", "Harry", "Isla", "George", "Emily"),
    "BE": ("Lucas", "Emma", "Arthur", "Louise", "Noah", "Elise"),
    "CH": ("Noah", "Mia", "Liam", "Lina", "Luca", "Elena"),
    "CA": ("Gabriel", "Olivia", "Félix", "Charlotte", "Liam", "Alice"),
    "ES": ("Lucía", "Hugo", "Martina", "Pablo", "Sara", "Daniel"),
    "NL": ("Daan", "Julia", "Sem", "Tess", "Lucas", "Fenna"),
    "US": ("James", "Olivia", "Ethan", "Ava", "Mason", "Harper"),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "FR": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
    "DE": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner"),
    "IT": ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano"),
    "GB": ("Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans"),
    "BE": ("Peeters", "Janssens", "Maes", "Dubois", "Lambert", "Dupont"),
    "CH": ("Müller", "Meier", "Favre", "Rochat", "Bianchi", "Keller"),
    "CA": ("Tremblay", "Gagnon", "Roy", "Côté", "Smith", "Bouchard"),
    "ES": ("García", "Martínez", "López", "Sánchez", "Pérez", "Gómez"),
    "NL": ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser"),
    "US": ("Johnson", "Williams", "Miller", "Davis", "Garcia", "Moore"),
}

PHONES = (("Apple", "iPhone 12"), ("Apple", "iPhone 14 Pro"), ("samsung", "SM-G991B"), ("Google", "Pixel 6"))
CAMERAS = (("Canon", "Canon EOS 80D"), ("NIKON CORPORATION", "NIKON D7500"), ("SONY", "ILCE-7M3"),
           ("FUJIFILM", "X-T3"))
AGENCY_CAMERAS = (("Canon", "Canon EOS R5"), ("NIKON CORPORATION", "NIKON D5"), ("SONY", "ILCE-9"))
PHONE_SIZES = ((2016, 1512), (1600, 1200), (1280, 960), (1440, 1080), (1200, 900))  # 4:3, 1.1-3 MP
CAMERA_SIZES = ((2400, 1600), (1800, 1200), (1536, 1024), (1350, 900), (1440, 960))  # 3:2, 1.2-3.8 MP


@dataclass(frozen=True, slots=True)
class Robots:
    blocked_agents: tuple[str, ...] = ()  # disallowed entirely
    disallow_all: tuple[str, ...] = ()  # paths disallowed for User-agent: * (never pages we list; images only on a
    # host that refuses all, see refuses_all)
    x_robots_tag: str | None = None  # header on every response of the host
    meta_robots: str | None = None  # <meta name="robots"> on every page of the site

    @property
    def tdmrep(self) -> bool:
        """Publishers that block AI crawlers also reserve TDM rights in /.well-known/tdmrep.json."""
        return bool(set(self.blocked_agents) & {"GPTBot", "CCBot"})

    @property
    def refuses_all(self) -> bool:
        """``Disallow: /`` for every agent: a crawl that obeys robots.txt fetches nothing from the host."""
        return "/" in self.disallow_all


@dataclass(frozen=True, slots=True)
class Site:
    host: str
    country: str | None  # None for global platforms and CDN hosts
    kind: str  # local_news, magazine, blog, photo_sharing, social, forum, aggregator, cdn, static
    lang: str | None
    city: str | None = None
    name: str = ""
    image_host: str | None = None  # where its images live; None means its own host
    geo_meta: bool = False
    json_ld: bool = False
    srcset: bool = False
    picture: bool = False
    hreflang: tuple[str, ...] = ()
    listing_images: bool = True
    protocol_relative: bool = False
    stylesheet: bool = False  # every page links /static/site.css, whose banner background is a figure's photo
    robots: Robots = field(default_factory=Robots)
    patterns: tuple[str, ...] = ()  # how its pages name images besides <img>: see PATTERNS

    @property
    def img_host(self) -> str:
        return self.image_host or self.host


# The ways a site's pages name images besides a plain <img src>, each used by several sites of several countries
# (the page parser must find them all: audit/decode/html.py). A site shows its figures in at most one of the
# FIGURE_STYLES; the other patterns add to it.
FIGURE_STYLES = (
    "lazy",  # <img src="data:..." data-src=... data-srcset=...> (or data-original, data-lazy-src, data-lazy-srcset)
    #          with a <noscript><img src=...></noscript> fallback
    "css",  # a <div style="background-image:url(...)"> on posts, a <style> block and a class on listings
    "table",  # <table><tr><td background=...>, as old forums and blogs do
    "input",  # <input type="image" src=...> in a zoom form
    "video",  # <video poster=...>: the photo is a video's poster frame
    "svg",  # <svg><image href=...></svg>
)
PATTERNS = FIGURE_STYLES + (
    "microdata",  # <meta itemprop="image"> naming an image the page shows nowhere else (a share-size copy)
    "icon",  # <link rel="icon"> or <link rel="apple-touch-icon">: a site icon cropped from one of its photos
)
# JSON-LD sites (Site.json_ld) name their articles' images as ImageObject, thumbnailUrl and a share-size copy named
# nowhere else.

_AI = ("GPTBot", "CCBot")
SITES: tuple[Site, ...] = (
    Site("www.lyon-actu.fr", "FR", "local_news", "fr", "Lyon", "Lyon Actu", "img.cdnstatic.net", geo_meta=True,
         json_ld=True, srcset=True, robots=Robots(_AI, ("/admin/",), meta_robots="max-image-preview:large"),
         patterns=("lazy",)),
    Site("www.paris-quartiers.paris", "FR", "local_news", "fr-FR", "Paris", "Paris Quartiers", geo_meta=True,
         picture=True, robots=Robots((), ("/recherche",)), patterns=("lazy", "microdata")),
    Site("www.ouest-infos.fr", "FR", "local_news", "fr", "Nantes", "Ouest Infos", "cdn.imgcache.net", json_ld=True,
         listing_images=False, robots=Robots(("GPTBot",), ("/admin/",)), patterns=("video",)),
    Site("www.lemag-hebdo.com", "FR", "magazine", "fr", "Paris", "Le Mag Hebdo", "img.cdnstatic.net", json_ld=True,
         hreflang=("fr", "en"), protocol_relative=True, robots=Robots(_AI, (), x_robots_tag="noai"),
         patterns=("css",)),
    Site("www.carnets-de-marie.fr", "FR", "blog", "fr", "Bordeaux", "Les carnets de Marie", stylesheet=True,
         robots=Robots((), ("/wp-admin/",)), patterns=("svg", "icon")),
    Site("www.petitsvoyages.net", "FR", "blog", "fr", "Toulouse", "Petits voyages", srcset=True,
         robots=Robots((), ("/wp-admin/",), meta_robots="noai, noimageai")),
    Site("forum.velo-passion.fr", "FR", "forum", "fr", "Rennes", "Vélo Passion", listing_images=False,
         robots=Robots((), ("/search/", "/login")), patterns=("table",)),
    Site("www.toutelinfo.fr", "FR", "aggregator", "fr", "Paris", "Toute l'info", robots=Robots(_AI)),
    Site("www.liege-info.be", "BE", "local_news", "fr-BE", "Liège", "Liège Info", "img.cdnstatic.net",
         geo_meta=True, robots=Robots((), ("/admin/",)), patterns=("input",)),
    Site("www.gentsnieuws.be", "BE", "local_news", "nl-BE", "Ghent", "Gents Nieuws", srcset=True,
         patterns=("lazy", "microdata")),
    Site("www.bruxelles-blog.be", "BE", "blog", "fr", "Brussels", "Bruxelles au quotidien",
         robots=Robots((), ("/wp-admin/",)), patterns=("table",)),
    Site("www.geneve-matin.ch", "CH", "local_news", "fr-CH", "Geneva", "Genève Matin", "media.fastpix-cdn.com",
         json_ld=True, picture=True, robots=Robots(_AI), patterns=("css",)),
    Site("www.limmat-post.ch", "CH", "local_news", "de-CH", "Zurich", "Limmat Post", geo_meta=True,
         patterns=("video", "microdata")),
    Site("www.montreal-express.ca", "CA", "local_news", "fr-CA", "Montreal", "Montréal Express", "cdn.imgcache.net",
         json_ld=True, hreflang=("fr-CA", "en-CA"), robots=Robots(("GPTBot",)), patterns=("video",)),
    Site("www.toronto-ledger.ca", "CA", "local_news", "en-CA", "Toronto", "Toronto Ledger", "media.fastpix-cdn.com",
         srcset=True),
    Site("www.quebec-pixels.ca", "CA", "blog", "fr-CA", "Quebec City", "Québec Pixels", patterns=("table",)),
    Site("www.rheinblick-nachrichten.de", "DE", "local_news", "de", "Cologne", "Rheinblick Nachrichten",
         "img.cdnstatic.net", geo_meta=True, json_ld=True, robots=Robots(_AI, ("/admin/",)), patterns=("svg",)),
    Site("www.muenchen-heute.de", "DE", "local_news", "de-DE", "Munich", "München heute", picture=True),
    Site("www.wanderlust-anna.de", "DE", "blog", "de", "Hamburg", "Wanderlust Anna", patterns=("svg", "icon")),
    Site("www.cronaca-milano.it", "IT", "local_news", "it", "Milan", "Cronaca Milano", "media.fastpix-cdn.com",
         geo_meta=True, patterns=("input", "microdata")),
    Site("www.cucina-di-giulia.it", "IT", "blog", "it", "Florence", "La cucina di Giulia", srcset=True,
         patterns=("lazy",)),
    Site("www.manchester-gazette.co.uk", "GB", "local_news", "en-GB", "Manchester", "Manchester Gazette",
         json_ld=True, srcset=True, robots=Robots(_AI, ("/admin/",))),
    Site("www.thames-notebook.co.uk", "GB", "blog", "en-GB", "London", "Thames Notebook", patterns=("css", "icon")),
    Site("www.noticias-sevilla.es", "ES", "local_news", "es", "Seville", "Noticias Sevilla", geo_meta=True,
         patterns=("video", "microdata")),
    Site("www.viajes-de-lucia.es", "ES", "blog", "es-ES", "Madrid", "Los viajes de Lucía", patterns=("lazy",)),
    Site("www.utrecht-courant.nl", "NL", "local_news", "nl", "Utrecht", "Utrechtse Courant", json_ld=True,
         stylesheet=True, patterns=("css",)),
    Site("www.lakeshore-tribune.com", "US", "local_news", "en-US", "Chicago", "Lakeshore Tribune",
         "cdn.imgcache.net", json_ld=True, srcset=True, robots=Robots(_AI, ("/admin/",))),
    Site("www.snapfolio.com", None, "photo_sharing", "en", None, "Snapfolio", "static.snapfolio.com",
         robots=Robots(_AI, ("/upload",), meta_robots="max-image-preview:large"), patterns=("css",)),
    Site("www.chattr.com", None, "social", "en", None, "Chattr", "media.chattr-cdn.net",
         robots=Robots(("Googlebot-Image", "GPTBot", "CCBot"), ("/settings",), x_robots_tag="noimageindex",
                       meta_robots="noimageindex"), patterns=("lazy",)),
    Site("www.expat-forum.net", None, "forum", "en", None, "Expat Forum", listing_images=False,
         robots=Robots((), ("/search/",)), patterns=("table",)),
    Site("www.newsroundup.com", None, "aggregator", "en", None, "News Roundup", "media.vaultpix-cdn.com",
         robots=Robots(("CCBot",), (), x_robots_tag="noai, noimageai"), patterns=("input",)),
    # shops: product shots, logos, banners and icons, no photo of a person (audit.testbed.testweb.graphics)
    Site("www.boutique-lumiere.fr", "FR", "shop", "fr", "Lyon", "Boutique Lumière",
         robots=Robots((), ("/panier/",))),
    Site("www.shopnest.com", None, "shop", "en", None, "ShopNest", "cdn.imgcache.net",
         robots=Robots((), ("/cart/",))),
)
IMAGE_HOSTS: tuple[Site, ...] = (
    Site("img.cdnstatic.net", None, "cdn", None, name="CDN Static"),
    Site("cdn.imgcache.net", None, "cdn", None, name="ImgCache", robots=Robots(x_robots_tag="noimageindex")),
    Site("media.fastpix-cdn.com", None, "cdn", None, name="FastPix"),
    Site("static.snapfolio.com", None, "static", None, name="Snapfolio static", robots=Robots(_AI)),
    Site("media.chattr-cdn.net", None, "static", None, name="Chattr media",
         robots=Robots(("Googlebot-Image",), (), x_robots_tag="noimageindex")),
    # an image CDN whose robots.txt shuts out every crawler: the pages of its customer (an aggregator's re-posts)
    # name its images, a crawl that obeys robots.txt records them as refused and never fetches them (the test web
    # lists them apart from its ground truth: TestWeb.robots_refused)
    Site("media.vaultpix-cdn.com", None, "cdn", None, name="VaultPix", robots=Robots((), ("/",))),
)
SITE_BY_HOST: dict[str, Site] = {s.host: s for s in SITES + IMAGE_HOSTS}
CITY_BY_NAME: dict[str, City] = {c.name: c for c in CITIES}
_CITIES_OF: dict[str, list[City]] = {code: [c for c in CITIES if c.country == code] for code in COUNTRIES}


@dataclass(frozen=True, slots=True)
class Person:
    pid: int
    name: str
    username: str
    country: str
    city: City


@dataclass(frozen=True, slots=True)
class Photo:
    photo_id: str
    person: Person
    city: City  # where it was taken
    gps: tuple[float, float] | None  # embedded in the original, if any
    width: int
    height: int
    taken_at: str  # EXIF "YYYY:MM:DD HH:MM:SS", local time
    offset: str  # "+02:00"
    make: str | None
    model: str | None
    metadata: tuple[str, ...]  # what the original file carries
    img_seed: int
    title: str
    caption_case: str = ""  # the hard case of place names its caption exercises (HARD_NONE, HARD_PLACED), or ""
    caption_country: str | None = None  # the country of the place its caption names (None: it names none)
    real: RealPhoto | None = None  # a real photo of the shared corpora (its pixels, boxes and licence), or synthetic


@dataclass(frozen=True, slots=True)
class Variant:
    """One served file: a copy of a photo at one URL."""

    url: str
    host: str
    path: str
    photo: Photo
    site: str  # host of the site that published it
    width: int  # served size
    height: int
    base_width: int  # rendered size before cropping
    base_height: int
    crop: tuple[int, int, int, int] | None  # box in the rendered image
    mirror: bool
    watermark: str | None
    format: str  # JPEG, PNG, WEBP
    quality: int
    transforms: tuple[str, ...]
    kept: tuple[str, ...]


@dataclass(slots=True)
class Figure:
    main: Variant
    small: Variant | None = None  # srcset / <picture> alternative
    full: Variant | None = None  # <a href> to the full-size file
    caption: str = ""


@dataclass(slots=True)
class Post:
    site: Site
    path: str
    title: str
    date: dt.date
    figures: list[Figure]
    author: Person | None = None
    source_url: str | None = None  # aggregators: the page they re-post from
    share: Variant | None = None  # a share-size copy of the lead named only in JSON-LD or microdata

    @property
    def url(self) -> str:
        return f"http://{self.site.host}{self.path}"


@dataclass(slots=True)
class World:
    seed: int
    sites: tuple[Site, ...]
    image_hosts: tuple[Site, ...]
    people: list[Person]
    photos: list[Photo]
    variants: list[Variant]
    posts: list[Post]
    icons: dict[str, Variant] = field(default_factory=dict)  # site host -> its site icon (the "icon" pattern)
    # images that show no person (logos, product shots, maps, banners, icons) and where the pages show them
    graphics: Graphics | None = None
    real_note: str = ""  # which real photos the world could use (audit.testbed.testweb.realphotos.load_corpus)

    @property
    def real_photos(self) -> list[Photo]:
        return [p for p in self.photos if p.real is not None]


def _slug(text: str) -> str:
    table = str.maketrans("àâäéèêëîïôöùûüçñíóúá'", "aaaeeeeiioouuucnioua-")
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower().translate(table))
    return "-".join(p for p in out.split("-") if p)


def _token(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12]


def _utc_offset(city: City, local: dt.datetime) -> str:
    off = local.replace(tzinfo=ZoneInfo(city.tz)).utcoffset() or dt.timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _fit(w: int, h: int, max_w: int) -> tuple[int, int]:
    if w <= max_w:
        return w, h
    return max_w, max(1, round(h * max_w / w))


class _Builder:
    def __init__(self, photos: int, seed: int, real: list[RealPhoto] | None = None) -> None:
        self.n = photos
        self.seed = seed
        self.real = list(real or [])
        random.Random(f"{seed}:real").shuffle(self.real)
        self.rnd = random.Random(seed)
        self.rng = np.random.default_rng(seed)
        self.variants: list[Variant] = []
        self.dates: dict[str, dt.date] = {}
        self.people_list: list[Person] = []

    # --- people and photos ---
    def people(self) -> list[Person]:
        codes = [c for c in COUNTRIES.values() if c.weight > 0]
        weights = [c.weight for c in codes]
        out = []
        for pid in range(max(6, self.n // 5)):
            country = self.rnd.choices(codes, weights)[0].code
            city = self.rnd.choice(_CITIES_OF[country])
            first = self.rnd.choice(FIRST_NAMES[country])
            last = self.rnd.choice(LAST_NAMES[country])
            user = _slug(f"{first}{last[:1]}") + str(self.rnd.randint(1, 99))
            out.append(Person(pid, f"{first} {last}", user, country, city))
        return out

    def photo(self, idx: int, person: Person, venue: str, lang: str | None = None) -> Photo:
        rnd = self.rnd
        country = person.country
        if rnd.random() < CAPTURED_ABROAD:
            country = rnd.choice(COUNTRIES[country].neighbours)
        city = person.city if country == person.country and rnd.random() < 0.5 else rnd.choice(_CITIES_OF[country])
        day = dt.date(2018, 1, 1) + dt.timedelta(days=rnd.randrange(7 * 365))
        local = dt.datetime(day.year, day.month, day.day, rnd.randint(8, 21), rnd.randint(0, 59), rnd.randint(0, 59))
        if venue in ("local_news", "magazine"):
            device = "agency" if rnd.random() < 0.75 else "camera"
        elif venue == "photo_sharing":
            device = rnd.choice(("camera", "phone"))
        else:
            device = rnd.choices(("phone", "camera", "none"), (0.8, 0.1, 0.1))[0]
        meta: list[str] = []
        make = model = None
        if device != "none":
            make, model = rnd.choice({"phone": PHONES, "camera": CAMERAS, "agency": AGENCY_CAMERAS}[device])
            meta += ["exif", "make_model"]
            p_off, p_gps = {"phone": (PHONE_OFFSET_TIME, PHONE_GPS)}.get(device, (CAMERA_OFFSET_TIME, CAMERA_GPS))
            if rnd.random() < p_off:
                meta.append("offset_time")
            if rnd.random() < p_gps:
                meta.append("gps")
            if device == "agency":
                if rnd.random() < AGENCY_IPTC:
                    meta.append("iptc_location")
                if rnd.random() < AGENCY_XMP:
                    meta.append("xmp_location")
        gps = None
        if "gps" in meta:
            jitter = 0.0 if city.exact else 0.008  # ~0.9 km in latitude
            gps = (round(city.lat + rnd.uniform(-jitter, jitter), 6), round(city.lon + rnd.uniform(-jitter, jitter), 6))
        w, h = rnd.choice(CAMERA_SIZES if device in ("camera", "agency") else PHONE_SIZES)
        if rnd.random() < 0.25:
            w, h = h, w
        subject = person.name.split()[0]
        locative = LOCATIVE_CAPTION.get((lang or "en")[:2], LOCATIVE_CAPTION["en"])
        title = rnd.choice((locative, "{s} in {c}", "{c}, {s}", "{s} — {c}")).format(s=subject, c=city.name)
        case = ""
        named: str | None = city.country
        hard = random.Random(f"{self.seed}:caption:{idx}")
        if hard.random() < HARD_CAPTIONS:
            placed = HARD_PLACED.get(city.country, ())
            if placed and hard.random() < 0.5:
                case, template = hard.choice(placed)
            else:
                case, template, named = hard.choice(HARD_NONE)
            title = template.format(s=subject)
        return Photo(f"p{idx:06d}", person, city, gps, w, h, local.strftime("%Y:%m:%d %H:%M:%S"),
                     _utc_offset(city, local), make, model, tuple(meta), int(self.rng.integers(2**62)), title,
                     case, named)

    def venue_for(self, person: Person) -> Site:
        rnd = self.rnd
        kind = rnd.choices(("news", "photo_sharing", "social", "blog", "forum"), (0.36, 0.18, 0.2, 0.17, 0.09))[0]
        if kind == "news":
            local = [s for s in SITES if s.kind in ("local_news", "magazine") and s.country == person.country]
            if local:
                return rnd.choice(local)
            kind = "photo_sharing"
        if kind in ("blog", "forum"):
            own = [s for s in SITES if s.kind == kind and s.country == person.country]
            if own:
                return rnd.choice(own)
            kind = "forum" if kind == "forum" else "photo_sharing"
            if kind == "forum":
                return SITE_BY_HOST["www.expat-forum.net"]
        return next(s for s in SITES if s.kind == kind)

    # --- served copies ---
    def variant(self, photo: Photo, site: Site, *, max_w: int, transforms: list[str], keep_p: float,
                fmt: str = "JPEG", path: str = "", crop: bool = False, mirror: bool = False,
                watermark: str | None = None, quality: int = DISPLAY_QUALITY,
                source: Variant | None = None, host: str | None = None) -> Variant:
        rnd = self.rnd
        src_w, src_h = (source.width, source.height) if source else (photo.width, photo.height)
        base_w, base_h = _fit(src_w, src_h, max_w)
        tr = list(source.transforms) if source else []
        if (base_w, base_h) != (photo.width, photo.height) and "resize" not in tr:
            tr.append("resize")
        box = None
        w, h = base_w, base_h
        if crop:
            dx, dy = int(base_w * rnd.uniform(0.02, 0.08)), int(base_h * rnd.uniform(0.02, 0.08))
            box = (dx, dy, base_w - int(base_w * rnd.uniform(0.02, 0.08)), base_h - dy)
            w, h = box[2] - box[0], box[3] - box[1]
        available = source.kept if source else photo.metadata
        kept: tuple[str, ...] = ()
        if fmt == "JPEG" and available and rnd.random() < keep_p:
            kept = tuple(m for m in available if not (m == "gps" and rnd.random() < KEEPER_DROPS_GPS))
        for t in transforms + (["crop"] if crop else []) + (["mirror"] if mirror else []) + (
                ["watermark"] if watermark else []):
            if t not in tr:
                tr.append(t)
        if set(photo.metadata) - set(kept) and "strip_metadata" not in tr:
            tr.append("strip_metadata")
        if fmt != "JPEG":
            tr.append("format_" + fmt.lower())
        tr = [t for t in TRANSFORMS if t in tr]
        ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
        host = host or site.img_host
        path = f"{path.replace('{w}', str(base_w))}.{ext}"
        v = Variant(f"http://{host}{path}", host, path, photo, site.host, w, h, base_w, base_h, box, mirror,
                    watermark, fmt, quality, tuple(tr), kept)
        self.variants.append(v)
        return v

    def publish(self, photo: Photo, site: Site) -> Figure:
        rnd = self.rnd
        tok = _token(self.seed, photo.photo_id, site.host)
        day = dt.date(int(photo.taken_at[:4]), int(photo.taken_at[5:7]), int(photo.taken_at[8:10]))
        day += dt.timedelta(days=rnd.randint(0, 20))
        ym = f"{day.year}/{day.month:02d}"
        self.dates[photo.photo_id] = day
        slug = _slug(photo.title)[:40]
        small = full = None
        if site.kind in ("local_news", "magazine"):
            base = f"/{site.host.split('.')[1]}/{ym}/{tok}" if site.image_host else f"/media/{ym}/{tok}"
            main = self.variant(photo, site, max_w=rnd.choice((1200, 960, 800, 640)), transforms=[],
                                keep_p=NEWS_KEEPS_METADATA, path=base + "_{w}")
            if (site.srcset or site.picture) and _fit(photo.width, photo.height, 480)[0] < main.width:
                small = self.variant(photo, site, max_w=480, transforms=[], keep_p=0.0, path=base + "_{w}",
                                     fmt="WEBP" if site.picture else "JPEG")
        elif site.kind == "blog":
            base = f"/wp-content/uploads/{ym}/{slug[:30]}-{tok[:6]}"
            main = self.variant(photo, site, max_w=800, transforms=[], keep_p=BLOG_KEEPS_METADATA,
                                path=f"{base}-{{w}}")
            if site.srcset and _fit(photo.width, photo.height, 400)[0] < main.width:  # a smaller copy, if any
                small = self.variant(photo, site, max_w=400, transforms=[], keep_p=0.0, path=f"{base}-{{w}}")
            if rnd.random() < BLOG_FULL_SIZE_LINK:
                full = self.variant(photo, site, max_w=10_000, transforms=[], keep_p=0.7, path=base,
                                    quality=ORIGINAL_QUALITY)
        elif site.kind == "photo_sharing":
            base = f"/{rnd.randint(1000, 9999)}/{photo.photo_id[1:]}_{tok[:10]}"
            main = self.variant(photo, site, max_w=1024, transforms=[], keep_p=0.0, path=base + "_b")
            if rnd.random() < PHOTO_SHARING_ORIGINAL_PUBLIC:
                full = self.variant(photo, site, max_w=10_000, transforms=[],
                                    keep_p=PHOTO_SHARING_ORIGINAL_KEEPS_METADATA, path=base + "_o",
                                    quality=ORIGINAL_QUALITY)
        elif site.kind == "social":
            main = self.variant(photo, site, max_w=1080, transforms=["recompress"], keep_p=SOCIAL_KEEPS_METADATA,
                                path=f"/media/{tok}", quality=RECOMPRESS_QUALITY)
        else:  # forum
            main = self.variant(photo, site, max_w=1024, transforms=[], keep_p=FORUM_KEEPS_METADATA,
                                path=f"/attachments/{photo.photo_id[1:]}/{slug or tok}", quality=ORIGINAL_QUALITY)
        return Figure(main, small, full, photo.title)

    def repost(self, photo: Photo, source: Variant) -> tuple[Site, Figure]:
        rnd = self.rnd
        src_site = SITE_BY_HOST[source.site]
        kind = rnd.choices(("aggregator", "social", "forum"), (0.6, 0.25, 0.15))[0]
        if kind == "aggregator":
            fr = (src_site.lang or "").startswith("fr")
            site = SITE_BY_HOST["www.toutelinfo.fr" if fr and rnd.random() < 0.8 else "www.newsroundup.com"]
        elif kind == "social":
            site = SITE_BY_HOST["www.chattr.com"]
        else:
            forums = [s for s in SITES if s.kind == "forum" and s.country == photo.person.country]
            site = forums[0] if forums else SITE_BY_HOST["www.expat-forum.net"]
        if site.host == src_site.host:
            site = SITE_BY_HOST["www.newsroundup.com"]
        tok = _token(self.seed, photo.photo_id, site.host, "repost")
        if site.kind == "social":
            v = self.variant(photo, site, max_w=1080, transforms=["recompress"], keep_p=0.0, path=f"/media/{tok}",
                             quality=RECOMPRESS_QUALITY, source=source)
            return site, Figure(v, caption=photo.title)
        fmt = rnd.choices(("JPEG", "PNG", "WEBP"), (0.78, 0.08, 0.14))[0]
        recompress = fmt == "JPEG" and rnd.random() < 0.6
        v = self.variant(
            photo, site, max_w=rnd.choice((640, 800, source.width)) if fmt != "PNG" else 640,
            transforms=["recompress"] if recompress else [],
            keep_p=AGGREGATOR_KEEPS_METADATA if site.kind == "aggregator" else FORUM_KEEPS_METADATA,
            fmt=fmt, path=f"/i/{tok}" if site.kind == "aggregator" else f"/attachments/r{tok}",
            crop=rnd.random() < 0.3, mirror=rnd.random() < 0.15,
            watermark=site.name if site.kind == "aggregator" and rnd.random() < 0.3 else None,
            quality=RECOMPRESS_QUALITY if recompress else DISPLAY_QUALITY, source=source)
        return site, Figure(v, caption=photo.title)

    # --- posts ---
    def posts(self, published: dict[str, list[tuple[Photo, Figure]]],
              reposts: list[tuple[Site, Photo, Figure, str]]) -> list[Post]:
        rnd = self.rnd
        posts: list[Post] = []
        src_post: dict[str, Post] = {}
        for site in SITES:
            items = sorted(published[site.host], key=lambda pf: (self.dates[pf[0].photo_id], pf[0].photo_id))
            i = 0
            while i < len(items):
                if site.kind in ("local_news", "magazine"):
                    k = rnd.choices((1, 2, 3, 4), (0.6, 0.2, 0.12, 0.08))[0]
                elif site.kind == "blog":
                    k = rnd.choices((1, 2, 3, 5), (0.4, 0.3, 0.2, 0.1))[0]
                elif site.kind == "forum":
                    k = rnd.choice((1, 1, 2))
                else:
                    k = 1
                group = items[i:i + k]
                i += k
                lead = group[0][0]
                date = self.dates[lead.photo_id]
                slug = _slug(lead.title)[:50] or lead.photo_id
                n = len(posts)
                path = {
                    "local_news": f"/{date.year}/{date.month:02d}/{slug}-{n}.html",
                    "magazine": f"/articles/{slug}-{n}/",
                    "blog": f"/{date.year}/{date.month:02d}/{date.day:02d}/{slug}/",
                    "photo_sharing": f"/photos/{lead.person.username}/{lead.photo_id[1:]}/",
                    "social": f"/p/{_token(self.seed, n)}/",
                    "forum": f"/thread/{n}-{slug}/",
                }[site.kind]
                post = Post(site, path, lead.title, date, [f for _, f in group], author=lead.person)
                posts.append(post)
                for photo, _ in group:
                    src_post[photo.photo_id] = post
        for site, photo, fig, kind in reposts:
            src = src_post[photo.photo_id]
            date = self.dates[photo.photo_id] + dt.timedelta(days=rnd.randint(0, 60))
            n = len(posts)
            path = {"aggregator": f"/story/{n}.html", "social": f"/p/{_token(self.seed, n)}/",
                    "forum": f"/thread/{n}-{_slug(photo.title)[:40]}/"}[site.kind]
            author = None if site.kind == "aggregator" else rnd.choice(self.people_list)
            posts.append(Post(site, path, ("Vu sur " if site.lang == "fr" else "Seen on ") + src.site.name
                              + " : " + photo.title if kind == "hotlink" else photo.title,
                              date, [fig], author=author, source_url=src.url))
        return posts

    def build(self) -> World:
        self.people_list = people = self.people()
        order = [int(i) for i in self.rng.permutation(len(people))]
        cum = list(np.cumsum([1.0 / (1 + i) ** 0.6 for i in range(len(people))]))  # a few people, many photos
        published: dict[str, list[tuple[Photo, Figure]]] = {s.host: [] for s in SITES}
        reposts: list[tuple[Site, Photo, Figure, str]] = []
        photos: list[Photo] = []
        for idx in range(self.n):
            person = people[order[self.rnd.choices(range(len(people)), cum_weights=cum)[0]]]
            site = self.venue_for(person)
            photo = self.realize(idx, self.photo(idx, person, site.kind, site.lang))
            photos.append(photo)
            fig = self.publish(photo, site)
            published[site.host].append((photo, fig))
            if self.rnd.random() < REPOST_RATE:
                rsite, rfig = self.repost(photo, fig.main)
                reposts.append((rsite, photo, rfig, "repost"))
            if self.rnd.random() < HOTLINK_RATE:
                hsite = self.rnd.choice([s for s in SITES if s.kind in ("forum", "aggregator") and s is not site])
                reposts.append((hsite, photo, Figure(fig.main, caption=photo.title), "hotlink"))
        posts = self.posts(published, reposts)
        icons = self.patterns(posts)
        graphics = plan_graphics(self.seed, self.n, SITES, posts)
        logger.debug("world: %d people, %d photos, %d files, %d posts, %d graphics", len(people), len(photos),
                     len(self.variants), len(posts), len(graphics.items))
        return World(self.seed, SITES, IMAGE_HOSTS, people, photos, self.variants, posts, icons, graphics)

    def realize(self, idx: int, photo: Photo) -> Photo:
        """``photo``, or the same photo as a real one of the corpus (drawn apart: the rest of the world is the same
        with or without the corpus)."""
        if self.real and random.Random(f"{self.seed}:real:{idx}").random() < REAL_PHOTO_RATE:
            real = self.real.pop()
            return replace(photo, width=real.width, height=real.height, real=real)
        return photo

    def patterns(self, posts: list[Post]) -> dict[str, Variant]:
        """The copies only some pages' patterns name: share-size copies of the news articles' leads (JSON-LD and
        microdata) and the site icons. Drawn after everything else, so the rest of the world does not depend on
        them."""
        for post in posts:
            site = post.site
            if post.source_url is None and site.kind in ("local_news", "magazine") and (
                    site.json_ld or "microdata" in site.patterns):
                lead = post.figures[0].main
                post.share = self.variant(lead.photo, site, max_w=720, transforms=[], keep_p=0.0,
                                          path=lead.path.rsplit(".", 1)[0] + "-share{w}")
        icons: dict[str, Variant] = {}
        for site in SITES:
            own = sorted((p for p in posts if p.site is site and p.source_url is None), key=lambda p: (p.date, p.path))
            if "icon" in site.patterns and own:
                lead = own[0].figures[0].main
                icons[site.host] = self.variant(
                    lead.photo, site, max_w=192, transforms=[], keep_p=0.0, fmt="PNG",
                    path=f"/wp-content/uploads/site-icon/cropped-{_token(self.seed, site.host, 'icon')[:8]}-{{w}}")
        return icons


def build_world(photos: int, seed: int, real: list[RealPhoto] | None = None, real_note: str = "") -> World:
    """Draw the whole world for ``photos`` photos from ``seed``; ``real`` are the real photos it may use."""
    world = _Builder(photos, seed, real).build()
    world.real_note = real_note
    return world

