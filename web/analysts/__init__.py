"""The analysts' read API and dashboard (`kim serve`): one aiohttp app, read-only, suppressed."""
