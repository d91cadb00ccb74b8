"""Event generation with Pythia8: the process catalogue, Pythia set-up and event-record reading,
truth matching, parton-level Les Houches input, the shard cache and the sharded generator."""
