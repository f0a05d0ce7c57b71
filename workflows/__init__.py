"""geak's shipped workflows, as package data (geak.resources); no code."""
