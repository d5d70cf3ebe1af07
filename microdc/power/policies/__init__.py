"""The power policies: budget (limits of the room), battery (a UPS on battery), cooling (a cooling unit in alarm).
Each reads the site's power once (capacity.SitePower), acts through policy_caps, and records PolicyEvents."""
