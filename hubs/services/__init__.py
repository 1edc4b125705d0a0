"""Outside services (Fedora's Badges, Bodhi, Pagure, calendars…): the bounded HTTP client widgets fetch through."""
