"""The daemon (``pantau run``): runner, probe scheduler, service runners, incident tracking,
backups and drills, the HTTP endpoint and its views, logging, calendar jobs."""
