"""The project's question-rewriting dataset: the shipped pairs and the generator that writes them (generate.py)."""
