"""The versioned prompt registry lands here with the prompts issue."""
