"""What the run owns on an engine: ownership labels and proofs, the lease, the claim
taken at start, the reaper at the end, sweeps of dead runs, private temp folders."""
