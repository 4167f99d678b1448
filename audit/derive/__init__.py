"""What the audit derives from a store: signals and opt-outs of every image (set-wise, with a plain row-by-row
reference), near-duplicate clusters, propagation and attribution.
"""
