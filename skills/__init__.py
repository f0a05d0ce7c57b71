"""geak's shipped skills, as package data (geak.resources); no code."""
