"""The admin room: admin commands in chat (maintenance windows, announcements, statistics)."""
