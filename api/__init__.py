"""The composition root: builds everything from configuration, owns lifetimes, serves HTTP."""
