"""Everything that exists to test and demonstrate the tool, apart from production code: the seeded test web and its
ground truth, the evaluation against it, simulated deletions, hostile archives, fault and trap servers, the demo.
"""
