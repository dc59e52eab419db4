"""Hyperbolic embeddings built without training (Sala, De Sa, Gu & Re, ICML 2018): Sarkar's
combinatorial construction of a tree, h-MDS of a distance matrix, and the exact evaluation
of points stored with more bits than a float64 holds."""
