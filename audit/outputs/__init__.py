"""What users read: the claim report, the deletion sweep, the verification of a claimed deletion, the lookup of a
person's own photo, summaries and ``inspect``.
"""
