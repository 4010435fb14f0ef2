"""civrisk: weekly early warning of civilian harm by organized violence, by region and perpetrator."""

__version__ = "0.1.0"
