"""Scrapy spiders of provenance-audit (``scrapy list`` shows them)."""
