"""The Textual user interface: the only package (with the CLI) that imports Textual or Rich."""
