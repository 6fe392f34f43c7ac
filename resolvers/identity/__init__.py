"""Who may call the API: sessions, users, API keys, and the security log."""
