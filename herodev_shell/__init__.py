"""herodev: isolated copies of a server's code tree for every developer or agent."""

__version__ = "0.2.0"
