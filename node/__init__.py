"""fedshare node: one tier's installation of the inspection linkage information-sharing network."""

__version__ = "0.1.0"
