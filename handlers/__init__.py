"""Everything before the queue: the aiohttp receiver and one module per webhook source."""
