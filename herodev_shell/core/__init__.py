"""The decisions: sessions, repositories, changes, delivery and maintenance. Returns data; never prints."""
