"""Gene expression inference: the paired L1000/RNA-seq set, gene graph, models and metrics."""
