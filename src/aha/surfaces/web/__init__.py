"""The dashboard (`aha serve`, `aha dashboard`) and the shareable report (`aha report --html/--png`).

One room for both: `charts` turns result objects into Vega-Lite specs (Altair) and renders them to SVG/PNG with
vl-convert (no browser, no JavaScript, no CDN); `views` turns result objects into page contexts; `pages` mounts the
views on a FastAPI app; `export` writes the one-file HTML report and the PNGs. Every number shown comes from a
result object: templates only format.
"""
