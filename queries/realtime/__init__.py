"""Live push: which events concern whom, the frames they become, live fan-out and resume."""
