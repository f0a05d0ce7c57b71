"""geak's shipped prompts, as package data (geak.resources); no code."""
