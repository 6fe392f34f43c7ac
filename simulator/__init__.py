"""`cashcc simulate`: a fleet of shops' local systems driving the public API, with fault
injection and an end-of-run check that the cloud holds exactly what the shops journaled."""
