"""Validation on a crawl without ground truth: draw a stratified random sample of a store's images for one country
(:mod:`~audit.outputs.validation.sample`), write it as a labelling sheet a person fills in (HTML and CSV,
:mod:`~audit.outputs.validation.sheet`), read the filled sheet back (:mod:`~audit.outputs.validation.labels`) and
estimate, with 95% intervals, each tier's precision and how many of the country's images the attribution missed
(:mod:`~audit.outputs.validation.estimate`). The method is in docs/validation.md."""
